"""MediaWiki pages and files through the API session: create, append, read, upload, site facts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bridge.adapters.wiki_api import WikiSession
from bridge.core.attachments import UploadLimits
from bridge.errors import WikiError, WikiRefusedError, WikiUnavailableError

# `list=users` takes at most this many names per request (more for accounts with `apihighlimits`).
USERS_PER_REQUEST = 50


@dataclass(frozen=True, slots=True)
class EditResult:
    """A confirmed edit: the page's normalized title and the new revision id."""

    title: str
    revision: int
    changed: bool = True


@dataclass(frozen=True, slots=True)
class PageContent:
    """A page's current wikitext and revision."""

    title: str
    text: str
    revision: int


class WikiClient(WikiSession):
    """Pages and files of one wiki, over a logged-in `WikiSession`."""

    # -- pages -------------------------------------------------------------------------------

    def _edit(self, params: Mapping[str, Any], title: str, summary: str, action: str) -> EditResult:
        self._throttle()
        extra = {"bot": "1"} if "bot" in self.rights else {}
        body = self._write({"action": "edit", "title": title, "summary": summary, **extra, **params}, action)
        edit = body.get("edit", {})
        if edit.get("result") != "Success":
            raise WikiRefusedError(f"the wiki did not save {title!r}: {edit}", "editfailed")
        with self._gate:
            self.edits += 1
        if edit.get("nochange"):
            return EditResult(title=str(edit.get("title", title)), revision=0, changed=False)
        return EditResult(title=str(edit.get("title", title)), revision=int(edit["newrevid"]))

    def create_page(self, title: str, text: str, summary: str) -> EditResult | None:
        """Create a page; return None, writing nothing, when a page of that title already exists."""
        try:
            return self._edit({"text": text, "createonly": "1"}, title, summary, f"create {title!r}")
        except WikiError as exc:
            if exc.code == "articleexists":
                return None
            raise

    def replace_page(self, title: str, text: str, summary: str, base_revision: int) -> EditResult:
        """Replace a page's text, failing with `editconflict` if someone saved after `base_revision`."""
        return self._edit(
            {"text": text, "baserevid": str(base_revision), "nocreate": "1"},
            title,
            summary,
            f"update {title!r}",
        )

    def append_to_page(self, title: str, text: str, summary: str) -> EditResult | None:
        """Append to an existing page on top of whatever people edited; None when the page is gone."""
        try:
            return self._edit({"appendtext": text, "nocreate": "1"}, title, summary, f"append to {title!r}")
        except WikiError as exc:
            if exc.code == "missingtitle":
                return None
            raise

    def page_content(self, title: str) -> PageContent | None:
        """Return the current wikitext and revision of a page, or None when it does not exist."""
        self._ensure_login()
        body = self._call(
            "GET",
            {
                "action": "query",
                "prop": "revisions",
                "titles": title,
                "rvprop": "ids|content",
                "rvslots": "main",
            },
        )
        self._raise_for(body, f"read {title!r}")
        pages = body.get("query", {}).get("pages", [])
        if not pages or pages[0].get("missing") or not pages[0].get("revisions"):
            return None
        revision = pages[0]["revisions"][0]
        return PageContent(
            title=str(pages[0]["title"]),
            text=str(revision["slots"]["main"]["content"]),
            revision=int(revision["revid"]),
        )

    def max_article_size(self) -> int:
        """Return the largest page the wiki stores, in bytes of wikitext (`$wgMaxArticleSize`; asked once)."""
        if self._max_article_size is None:
            self._ensure_login()
            body = self._call("GET", {"action": "query", "meta": "siteinfo", "siprop": "general"})
            self._raise_for(body, "describe its page size limit")
            # Wikis older than MediaWiki 1.28 do not say; theirs is the same 2 MB default.
            self._max_article_size = int(body["query"]["general"].get("maxarticlesize", 2048 * 1024))
        return self._max_article_size

    def page_length(self, title: str) -> int | None:
        """Return a page's current size in bytes (without reading its text), or None when it is missing."""
        self._ensure_login()
        body = self._call("GET", {"action": "query", "prop": "info", "titles": title})
        self._raise_for(body, f"measure {title!r}")
        pages = body.get("query", {}).get("pages", [])
        if not pages or pages[0].get("missing") or pages[0].get("invalid"):
            return None
        return int(pages[0].get("length", 0))

    def upload_limits(self) -> UploadLimits:
        """Return the file extensions and the largest upload the wiki accepts (asked once)."""
        if self._limits is None:
            self._ensure_login()
            body = self._call(
                "GET", {"action": "query", "meta": "siteinfo", "siprop": "general|fileextensions"}
            )
            self._raise_for(body, "describe its upload limits")
            query = body["query"]
            enabled = bool(query["general"].get("uploadsenabled", False))
            self._limits = UploadLimits(
                extensions=frozenset(str(e["ext"]).lower() for e in query.get("fileextensions", []))
                if enabled
                else frozenset(),
                max_bytes=int(query["general"].get("maxuploadsize", 0)),
            )
        return self._limits

    def file_with_sha1(self, sha1: str) -> str | None:
        """Return the title (`File:…`) of a file with this content on the wiki, if there is one."""
        self._ensure_login()
        body = self._call("GET", {"action": "query", "list": "allimages", "aisha1": sha1, "ailimit": "1"})
        self._raise_for(body, "look up a file")
        images = body.get("query", {}).get("allimages", [])
        return f"File:{images[0]['name']}" if images else None

    def _upload_write(
        self, params: Mapping[str, Any], filename: str, files: Mapping[str, Any]
    ) -> dict[str, Any]:
        """POST an upload; the wiki failing inside on this one file (a broken image) refuses only it."""
        try:
            return self._write(params, f"upload {filename!r}", files=files)
        except WikiUnavailableError:
            raise
        except WikiError as exc:
            if exc.code.startswith("internal_api_error"):
                raise WikiRefusedError(f"the wiki could not process {filename!r}: {exc}", exc.code) from exc
            raise

    def upload(self, filename: str, data: bytes, comment: str) -> str:
        """Upload a file under `filename` and return its title; an identical existing file is success.

        The name carries the content hash, so an existing file of that name holds this content.
        """
        self._throttle()
        params = {"action": "upload", "filename": filename, "comment": comment}
        files = {"file": (filename, data, "application/octet-stream")}
        body = self._upload_write(params, filename, files)
        result = body.get("upload", {})
        if result.get("result") == "Warning":
            warnings = result.get("warnings", {})
            if {"exists", "duplicate", "nochange"} & set(warnings):
                existing = self.file_with_sha1(hashlib.sha1(data).hexdigest())  # noqa: S324 - MediaWiki's own file key
                if existing is not None:
                    return existing
            if {"exists", "exists-normalized"} & set(warnings):
                # Never overwrite a file that is not this content.
                raise WikiRefusedError(
                    f"a different file named {filename!r} exists on the wiki", "fileexists"
                )
            body = self._upload_write({**params, "ignorewarnings": "1"}, filename, files)
            result = body.get("upload", {})
        if result.get("result") != "Success":
            raise WikiRefusedError(f"the wiki did not store {filename!r}: {result}", "uploadfailed")
        with self._gate:
            self.edits += 1
        return f"File:{result.get('filename', filename)}"

    def allowed_actions(self, title: str, actions: Sequence[str]) -> dict[str, bool]:
        """Tell which of `actions` (edit, create, upload …) the account may do on `title`."""
        self._ensure_login()
        body = self._call(
            "GET", {"action": "query", "prop": "info", "titles": title, "intestactions": "|".join(actions)}
        )
        self._raise_for(body, f"check the rights on {title!r}")
        pages = body.get("query", {}).get("pages", [])
        granted = pages[0].get("actions", {}) if pages else {}
        return {action: bool(granted.get(action)) for action in actions}

    def site_name(self) -> str:
        """Return the wiki's name and version (used by `check`)."""
        body = self._call("GET", {"action": "query", "meta": "siteinfo", "siprop": "general"})
        self._raise_for(body, "describe itself")
        general = body["query"]["general"]
        return f"{general.get('sitename', '?')} ({general.get('generator', '?')})"

    def pages_under(self, prefix: str, limit: int | None = None) -> Iterator[PageContent]:
        """Yield the pages titled `prefix/…` with their wikitext (list=allpages, any namespace).

        With `limit`, one request for at most that many pages (a cheap look); without, every
        page, following the API's continuation.
        """
        self._ensure_login()
        # The wiki normalises the prefix (namespace, first letter, underscores) as it does titles.
        probe = self._call("GET", {"action": "query", "titles": f"{prefix}/X"})
        self._raise_for(probe, f"read the title {prefix!r}")
        page = probe["query"]["pages"][0]
        namespace = int(page.get("ns", 0))
        local = str(page["title"]).split(":", 1)[1] if namespace else str(page["title"])
        params: dict[str, Any] = {
            "action": "query",
            "generator": "allpages",
            "gapnamespace": str(namespace),
            "gapprefix": local[:-1],
            "gaplimit": str(min(limit or 50, 50)),
            "prop": "revisions",
            "rvprop": "ids|content",
            "rvslots": "main",
        }
        while True:
            body = self._call("GET", params)
            self._raise_for(body, f"list the pages under {prefix!r}")
            for item in sorted(body.get("query", {}).get("pages", []), key=lambda item: str(item["title"])):
                # A page without its text here gets it in a later part of the answer.
                for revision in item.get("revisions", [])[:1]:
                    yield PageContent(
                        title=str(item["title"]),
                        text=str(revision["slots"]["main"]["content"]),
                        revision=int(revision["revid"]),
                    )
            if limit is not None or "continue" not in body:
                return
            params = {**params, **body["continue"]}

    def user_accounts(self, names: Sequence[str]) -> dict[str, bool]:
        """Tell for each user name (as the wiki writes it) whether the account exists (`list=users`).

        Asked 50 names per request, the API's limit for ordinary accounts; the answer's names
        are the wiki's own spelling (first letter upper case, blanks for underscores).
        """
        self._ensure_login()
        found: dict[str, bool] = {}
        wanted = list(dict.fromkeys(names))
        for start in range(0, len(wanted), USERS_PER_REQUEST):
            batch = wanted[start : start + USERS_PER_REQUEST]
            body = self._call("GET", {"action": "query", "list": "users", "ususers": "|".join(batch)})
            self._raise_for(body, "look up user accounts")
            for user in body.get("query", {}).get("users", []):
                exists = not user.get("missing") and not user.get("invalid") and "userid" in user
                found[str(user.get("name", ""))] = exists
        return {name: found.get(name, False) for name in wanted}

    def user_namespace(self) -> str:
        """Return the local name of the user namespace (2): `User`, `Benutzer` … (asked once)."""
        if self._user_namespace is None:
            self._ensure_login()
            body = self._call("GET", {"action": "query", "meta": "siteinfo", "siprop": "namespaces"})
            self._raise_for(body, "name its namespaces")
            self._user_namespace = str(body["query"]["namespaces"]["2"]["name"])
        return self._user_namespace

    def page_url(self, title: str) -> str:
        """Return the reader's URL of a page (derived from api_url; index.php sits beside api.php)."""
        base = self._settings.api_url.rsplit("/", 1)[0]
        return f"{base}/index.php?title={quote(title.replace(' ', '_'), safe='/:')}"
