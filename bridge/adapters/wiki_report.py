"""What the report pages need of the wiki besides pages: revision histories, bot accounts, file versions.

Histories are read in two steps: one `prop=revisions` request per batch of 50 pages tells each
page's latest revision (the API gives only the latest in that mode); only pages whose latest
revision is newer than the one read before are then read revision by revision (one page per
request, as the API requires, following continuation), without the bridge's own revisions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.adapters.wiki import WikiClient
from bridge.errors import WikiError, WikiRefusedError

_BATCH = 50  # titles per request: the API's limit for accounts without `apihighlimits`


@dataclass(frozen=True, slots=True)
class Edit:
    """One revision as the report sees it: its id, who saved it, when (ISO 8601 UTC, as the wiki says)."""

    revision: int
    user: str
    timestamp: str


def _batches(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


class ReportWiki(WikiClient):
    """A `WikiClient` that also reads revision histories, user groups and file versions (for the report)."""

    def latest_revisions(self, titles: Iterable[str]) -> dict[str, int]:
        """Return the latest revision id of each existing page of `titles` (keyed as asked)."""
        self._ensure_login()
        found: dict[str, int] = {}
        for batch in _batches(sorted(set(titles))):
            params: dict[str, Any] = {
                "action": "query",
                "prop": "revisions",
                "titles": "|".join(batch),
                "rvprop": "ids",
            }
            while True:
                body = self._call("GET", params)
                self._raise_for(body, "tell the latest revisions of the thread pages")
                query = body.get("query", {})
                # The wiki answers under its normalised titles; map them back to the titles asked.
                asked = {str(n["to"]): str(n["from"]) for n in query.get("normalized", [])}
                for page in query.get("pages", []):
                    for revision in page.get("revisions", [])[:1]:
                        title = str(page["title"])
                        found[asked.get(title, title)] = int(revision["revid"])
                if "continue" not in body:
                    break
                params = {**params, **body["continue"]}
        return found

    def revisions_after(self, title: str, after: int, exclude_user: str) -> list[Edit]:
        """Return the revisions of `title` newer than revision `after` (0: all), oldest first,
        leaving out those of `exclude_user` (the bridge's own edits).
        """
        self._ensure_login()
        params: dict[str, Any] = {
            "action": "query",
            "prop": "revisions",
            "titles": title,
            "rvprop": "ids|user|timestamp",
            "rvlimit": "max",
            "rvdir": "newer",
        }
        if after:
            params["rvstartid"] = str(after + 1)
        if exclude_user:
            params["rvexcludeuser"] = exclude_user
        found: list[Edit] = []
        while True:
            body = self._call("GET", params)
            self._raise_for(body, f"read the history of {title!r}")
            for page in body.get("query", {}).get("pages", []):
                found.extend(
                    Edit(int(r["revid"]), str(r.get("user", "")), str(r["timestamp"]))
                    for r in page.get("revisions", [])
                    if int(r["revid"]) > after
                )
            if "continue" not in body:
                return found
            params = {**params, **body["continue"]}

    def bots(self, users: Iterable[str]) -> set[str]:
        """Return those of `users` that are in the wiki's group `bot`."""
        self._ensure_login()
        found: set[str] = set()
        for batch in _batches(sorted({user for user in users if user})):
            body = self._call(
                "GET", {"action": "query", "list": "users", "ususers": "|".join(batch), "usprop": "groups"}
            )
            self._raise_for(body, "tell the groups of the pages' editors")
            found.update(
                str(user["name"]) for user in body["query"]["users"] if "bot" in user.get("groups", [])
            )
        return found

    def file_sha1(self, filename: str) -> str | None:
        """Return the SHA-1 of the current version of `File:filename`, None when there is no such file."""
        self._ensure_login()
        body = self._call(
            "GET", {"action": "query", "prop": "imageinfo", "titles": f"File:{filename}", "iiprop": "sha1"}
        )
        self._raise_for(body, f"describe the file {filename!r}")
        pages = body.get("query", {}).get("pages", [])
        infos = pages[0].get("imageinfo", []) if pages else []
        return str(infos[0]["sha1"]) if infos else None

    def upload_version(self, filename: str, data: bytes, comment: str) -> bool:
        """Upload `data` as `File:filename`, a new version of an existing file; False when unchanged.

        For files the bridge owns under a stable name (the report's chart), unlike attachments,
        which are named by their content and never overwritten.
        """
        if self.file_sha1(filename) == hashlib.sha1(data).hexdigest():  # noqa: S324 - MediaWiki's own file key
            return False
        self._throttle()
        params = {"action": "upload", "filename": filename, "comment": comment, "ignorewarnings": "1"}
        body = self._upload_write(params, filename, {"file": (filename, data, "image/png")})
        result = body.get("upload", {})
        if result.get("result") != "Success":
            raise WikiRefusedError(f"the wiki did not store {filename!r}: {result}", "uploadfailed")
        self.edits += 1
        return True

    def put_own_page(self, title: str, text: str, marker: str, summary: str) -> bool:
        """Write a page the bridge keeps (a report, the status page); False when it already reads `text`.

        `text` must contain `marker`: an existing page without it is someone else's (a thread
        page, a person's page) and is never overwritten.
        """
        current = self.page_content(title)
        if current is None:
            if self.create_page(title, text, summary) is None:
                raise WikiError(f"the page {title!r} was created by someone else meanwhile; not overwritten")
            return True
        if marker not in current.text:
            raise WikiError(
                f"the page {title!r} exists and was not made by email-wiki-bridge; "
                "it is not overwritten (choose another page in the config)"
            )
        # MediaWiki drops trailing white space on save: compare as it stores.
        if current.text.rstrip() == text.rstrip():
            return False
        self.replace_page(title, text, summary, current.revision)
        return True
