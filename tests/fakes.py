"""In-memory stand-ins for the IMAP server and the wiki, exactly as far as `MailboxSync` uses them.

They exist so Hypothesis can drive the real orchestrator and the real SQLite state store through
hundreds of generated conversations in seconds; the same code paths run against a real Dovecot
and a real MediaWiki in tests/integration. They subclass the real adapters only so that the type
checker holds them to the real signatures: every method the orchestrator calls is overridden, and
none of the network machinery is initialised, so a call the fakes do not model fails loudly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Literal

from bridge.adapters.imap import FolderStatus, HeaderProbe, ImapMailbox
from bridge.adapters.wiki import EditResult, PageContent, WikiClient
from bridge.core.attachments import UploadLimits
from bridge.core.model import FetchedMail
from bridge.errors import MailboxError, WikiUnavailableError

FaultMode = Literal["before", "after"]

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MESSAGE_ID_FIELD = re.compile(rb"^message-id:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*", re.IGNORECASE | re.MULTILINE)
_INTERNAL_DATE = datetime(2024, 1, 1, tzinfo=UTC)


def message_id_field(raw: bytes) -> str:
    """Return what `BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]` returns for a mail: its Message-ID lines."""
    header = _HEADER_END.split(raw, maxsplit=1)[0]
    lines = [match.group(0).rstrip(b"\r\n") for match in _MESSAGE_ID_FIELD.finditer(header)]
    return b"".join(line + b"\r\n" for line in lines).decode("ascii", "replace") + "\r\n"


@dataclass
class FakeFolder:
    """One IMAP folder: its UIDVALIDITY epoch and mails by UID (UIDs only grow, as on a server)."""

    uidvalidity: int
    mails: dict[int, bytes] = field(default_factory=dict)
    next_uid: int = 1


class FakeMailbox(ImapMailbox):
    """An IMAP account in memory: folders of (UID → raw mail); every session sees the same folders."""

    def __init__(self, folders: Sequence[str] = ("INBOX",), uidvalidity: int = 1) -> None:
        # The real __init__ only remembers the settings for connecting; nothing here connects.
        self.folders: dict[str, FakeFolder] = {name: FakeFolder(uidvalidity) for name in folders}
        self.selected: str | None = None
        self.sessions = 0
        self.header_fetches = 0
        self.bodies_fetched = 0

    # -- what the test does to the server ----------------------------------------------------

    def deliver(self, folder: str, raw: bytes) -> int:
        """Append a mail to `folder` (created on first use) and return its UID."""
        box = self.folders.setdefault(folder, FakeFolder(uidvalidity=1))
        uid = box.next_uid
        box.mails[uid] = raw
        box.next_uid += 1
        return uid

    def renumber(self, folder: str, uidvalidity: int, mails: Sequence[bytes], first_uid: int = 1) -> None:
        """Replace `folder` by a new UIDVALIDITY epoch holding `mails` in this order (a rebuilt index)."""
        box = FakeFolder(uidvalidity=uidvalidity, next_uid=first_uid)
        self.folders[folder] = box
        for raw in mails:
            self.deliver(folder, raw)

    # -- what MailboxSync calls ----------------------------------------------------------------

    def __enter__(self) -> FakeMailbox:
        self.sessions += 1
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.selected = None

    def _box(self) -> FakeFolder:
        if self.selected is None:
            raise AssertionError("no folder selected")
        return self.folders[self.selected]

    def select(self, folder: str, writable: bool = False) -> FolderStatus:
        """Select `folder` and return its status; a missing folder fails as on a real server."""
        if folder not in self.folders:
            raise MailboxError(f"selecting folder {folder!r} failed: Mailbox doesn't exist")
        self.selected = folder
        box = self.folders[folder]
        return FolderStatus(uidvalidity=box.uidvalidity, uidnext=box.next_uid, exists=len(box.mails))

    def uids_after(self, last_uid: int) -> list[int]:
        """Return the UIDs above `last_uid` in the selected folder, ascending."""
        return sorted(uid for uid in self._box().mails if uid > last_uid)

    # Flagging, moving and searching serve options the properties leave at their defaults
    # (after_publish = "keep", no quarantine, no start_date); reaching them is a test bug.

    def uids_since(self, day: date) -> list[int]:
        """Not modelled."""
        raise AssertionError("FakeMailbox does not model SEARCH SINCE")

    def add_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        """Not modelled."""
        raise AssertionError("FakeMailbox does not model flags")

    def remove_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        """Not modelled."""
        raise AssertionError("FakeMailbox does not model flags")

    def ensure_folder(self, folder: str) -> None:
        """Not modelled."""
        raise AssertionError("FakeMailbox does not model creating folders")

    def move(self, uids: Sequence[int], folder: str) -> None:
        """Not modelled."""
        raise AssertionError("FakeMailbox does not model moving mail")

    def find_message(self, message_id: str) -> list[int]:
        """Not modelled."""
        raise AssertionError("FakeMailbox does not model header search")

    def message_id_headers(self, uids: Sequence[int]) -> dict[int, HeaderProbe]:
        """Return the Message-ID header lines and size of each existing UID (absent UIDs are left out)."""
        box = self._box()
        self.header_fetches += 1
        return {
            uid: HeaderProbe(message_id_field(box.mails[uid]), len(box.mails[uid]))
            for uid in uids
            if uid in box.mails
        }

    def fetch(self, folder: str, uids: Sequence[int]) -> Iterator[FetchedMail]:
        """Yield the full mails of the existing `uids`, ascending by UID."""
        if folder != self.selected:
            raise AssertionError(f"fetch from {folder!r} while {self.selected!r} is selected")
        box = self._box()
        for uid in sorted(set(uids)):
            if uid in box.mails:
                self.bodies_fetched += 1
                yield FetchedMail(folder=folder, uid=uid, raw=box.mails[uid], internal_date=_INTERNAL_DATE)


def normalize_title(title: str) -> str:
    """Normalize a title as MediaWiki does: underscores are spaces, runs collapse, first letter upper."""
    text = " ".join(title.replace("_", " ").split())
    return text[:1].upper() + text[1:]


@dataclass
class FakePage:
    """A page's current wikitext and revision id."""

    text: str
    revision: int


class FakeWiki(WikiClient):
    """A wiki in memory: pages, a revision counter, and writes that fail on demand.

    `faults` maps the number of a write (1 = the first create or append call) to where it fails:
    `before` raises `WikiUnavailableError` without changing anything, `after` changes the page and
    then raises (the answer was lost), which is what a dropped connection or an HTTP 5xx looks like.
    """

    def __init__(self, faults: Mapping[int, FaultMode] | None = None) -> None:
        # The real __init__ only prepares an HTTP session; nothing here talks HTTP.
        self.pages: dict[str, FakePage] = {}
        self.faults: dict[int, FaultMode] = dict(faults or {})
        self.writes = 0  # create and append calls, whatever their outcome
        self.edits = 0  # writes that changed a page
        self.reads = 0
        self._revision = 0
        self.max_article_bytes = 2048 * 1024  # MediaWiki's default $wgMaxArticleSize

    # -- what the test does to the wiki ------------------------------------------------------

    def put_page(self, title: str, text: str) -> None:
        """Create or replace a page as a person would (not counted as a bridge write)."""
        self._revision += 1
        self.pages[normalize_title(title)] = FakePage(text, self._revision)

    def snapshot(self) -> dict[str, tuple[str, int]]:
        """Return every page's text and revision, to compare before and after a pass."""
        return {title: (page.text, page.revision) for title, page in self.pages.items()}

    # -- what MailboxSync calls ----------------------------------------------------------------

    def _start_write(self) -> FaultMode | None:
        self.writes += 1
        fault = self.faults.get(self.writes)
        if fault == "before":
            raise WikiUnavailableError(f"write {self.writes} failed before reaching the wiki (injected)")
        return fault

    def _apply(self, title: str, text: str, fault: FaultMode | None) -> EditResult:
        self._revision += 1
        self.edits += 1
        self.pages[title] = FakePage(text, self._revision)
        if fault == "after":
            raise WikiUnavailableError(f"the answer to write {self.writes} was lost (injected)")
        return EditResult(title=title, revision=self._revision)

    def create_page(self, title: str, text: str, summary: str) -> EditResult | None:
        """Create a page; return None, writing nothing, when a page of that title already exists."""
        fault = self._start_write()
        title = normalize_title(title)
        if title in self.pages:
            if fault == "after":
                raise WikiUnavailableError(f"the answer to write {self.writes} was lost (injected)")
            return None
        return self._apply(title, text, fault)

    def append_to_page(self, title: str, text: str, summary: str) -> EditResult | None:
        """Append to an existing page; return None when the page does not exist."""
        fault = self._start_write()
        title = normalize_title(title)
        page = self.pages.get(title)
        if page is None:
            if fault == "after":
                raise WikiUnavailableError(f"the answer to write {self.writes} was lost (injected)")
            return None
        return self._apply(title, page.text + text, fault)

    def max_article_size(self) -> int:
        """Return the page size limit the test set (`max_article_bytes`)."""
        return self.max_article_bytes

    def page_length(self, title: str) -> int | None:
        """Return a page's size in bytes of UTF-8, or None when it does not exist."""
        page = self.pages.get(normalize_title(title))
        return None if page is None else len(page.text.encode())

    def upload_limits(self) -> UploadLimits:
        """Not modelled: the generated mail has no attachments."""
        raise AssertionError("FakeWiki does not model uploads")

    def file_with_sha1(self, sha1: str) -> str | None:
        """Not modelled: the generated mail has no attachments."""
        raise AssertionError("FakeWiki does not model uploads")

    def upload(self, filename: str, data: bytes, comment: str) -> str:
        """Not modelled: the generated mail has no attachments."""
        raise AssertionError("FakeWiki does not model uploads")

    def page_content(self, title: str) -> PageContent | None:
        """Return the current wikitext and revision of a page, or None when it does not exist."""
        self.reads += 1
        title = normalize_title(title)
        page = self.pages.get(title)
        return None if page is None else PageContent(title=title, text=page.text, revision=page.revision)
