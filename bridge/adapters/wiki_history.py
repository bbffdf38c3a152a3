"""A page's revision history and the administrator's tools on it: revision deletion, page deletion.

Used by `forget` (GDPR Art. 17). These actions need rights a plain bot does not have
(`deleterevision`, `delete`; on a bot password the grant "Delete pages, revisions, and log
entries"), so `missing_rights` tells beforehand what the account lacks.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.adapters.wiki import WikiClient
from bridge.errors import WikiError

FORGET_RIGHTS = ("deleterevision", "delete")
# revisiondelete takes at most this many ids per request from an account without apihighlimits.
_IDS_PER_REQUEST = 50


@dataclass(frozen=True, slots=True)
class Revision:
    """One revision of a page with its wikitext ("" where the text is already hidden)."""

    revision: int
    text: str
    text_hidden: bool


class WikiHistory(WikiClient):
    """Pages of one wiki with their history, for the bridge's data-protection tools."""

    def missing_rights(self, needed: Sequence[str] = FORGET_RIGHTS) -> list[str]:
        """Return the rights of `needed` that the logged-in account does not have."""
        self._ensure_login()
        return [right for right in needed if right not in self.rights]

    def revisions(self, title: str) -> Iterator[Revision]:
        """Yield every revision of `title` with its text, newest first, following continuation."""
        self._ensure_login()
        params: dict[str, Any] = {
            "action": "query",
            "prop": "revisions",
            "titles": title,
            "rvprop": "ids|content",
            "rvslots": "main",
            "rvlimit": "50",
        }
        while True:
            body = self._call("GET", params)
            self._raise_for(body, f"read the history of {title!r}")
            for page in body.get("query", {}).get("pages", []):
                for revision in page.get("revisions", []):
                    main = revision.get("slots", {}).get("main", {})
                    hidden = bool(main.get("texthidden")) or "content" not in main
                    yield Revision(int(revision["revid"]), str(main.get("content", "")), hidden)
            if "continue" not in body:
                return
            params = {**params, **body["continue"]}

    def hide_revisions(self, title: str, revisions: Sequence[int], reason: str) -> None:
        """Hide the text and edit summary of `revisions` of `title` (revision deletion)."""
        for start in range(0, len(revisions), _IDS_PER_REQUEST):
            batch = revisions[start : start + _IDS_PER_REQUEST]
            self._write(
                {
                    "action": "revisiondelete",
                    "type": "revision",
                    "target": title,
                    "ids": "|".join(str(revision) for revision in batch),
                    "hide": "content|comment",
                    "reason": reason,
                },
                f"hide {len(batch)} revisions of {title!r}",
            )

    def delete_page(self, title: str, reason: str) -> bool:
        """Delete a page (a file's page deletes the file); False when it was already gone."""
        try:
            self._write({"action": "delete", "title": title, "reason": reason}, f"delete {title!r}")
        except WikiError as exc:
            if exc.code == "missingtitle":
                return False
            raise
        return True
