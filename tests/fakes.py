"""In-memory mailbox, wiki and mail sender implementing the ports of bridge/sync/ports.py.

They exist so Hypothesis can drive the real orchestrator and the real SQLite state store through
hundreds of generated conversations in seconds; the same code paths run against a real Dovecot,
a real MediaWiki and a real SMTP server in tests/integration. They implement the ports, not the
adapters' classes: mypy holds them to the ports where they are passed in, and the contract suites
in tests/contract hold them to what the real servers do.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Literal

from bridge.adapters.imap import FolderStatus
from bridge.adapters.imap_probe import HeaderProbe, message_id_lines
from bridge.adapters.wiki import EditResult, PageContent
from bridge.core.attachments import UploadLimits
from bridge.core.model import FetchedMail
from bridge.errors import MailboxError, MailError, MailUncertainError, WikiRefusedError, WikiUnavailableError

FaultMode = Literal["before", "after"]
SendFault = Literal["refused", "lost_before_data", "lost_after_data", "crash_after_data"]

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_THREAD_FIELDS = re.compile(
    rb"^(?:message-id|in-reply-to|references|thread-index|date):[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*",
    re.IGNORECASE | re.MULTILINE,
)
_INTERNAL_DATE = datetime(2024, 1, 1, tzinfo=UTC)


def message_id_field(raw: bytes) -> str:
    """Return what `BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]` returns for a mail: its Message-ID lines."""
    return message_id_lines(_HEADER_END.split(raw, maxsplit=1)[0])


def thread_fields(raw: bytes) -> bytes:
    """Return what `BODY.PEEK[HEADER.FIELDS (MESSAGE-ID IN-REPLY-TO …)]` returns: the probe's lines."""
    header = _HEADER_END.split(raw, maxsplit=1)[0]
    lines = [match.group(0).rstrip(b"\r\n") for match in _THREAD_FIELDS.finditer(header)]
    return b"".join(line + b"\r\n" for line in lines) + b"\r\n"


class Crash(BaseException):
    """The bridge process dies (SIGKILL): a `BaseException`, so no `except Exception` in the bridge
    can catch it and carry on."""


@dataclass
class FakeFolder:
    """One IMAP folder: its UIDVALIDITY epoch and mails by UID (UIDs only grow, as on a server)."""

    uidvalidity: int
    mails: dict[int, bytes] = field(default_factory=dict)
    next_uid: int = 1
    dates: dict[int, datetime] = field(default_factory=dict)  # INTERNALDATE by UID


class FakeMailbox:
    """An IMAP account in memory: folders of (UID → raw mail) and keywords by (folder, UID).

    Every session sees the same folders.
    """

    def __init__(self, folders: Sequence[str] = ("INBOX",), uidvalidity: int = 1) -> None:
        self.folders: dict[str, FakeFolder] = {name: FakeFolder(uidvalidity) for name in folders}
        self.flags: dict[tuple[str, int], set[str]] = {}
        self.selected: str | None = None
        self.writable = False
        self.sessions = 0
        self.header_fetches = 0
        self.bodies_fetched = 0

    # -- what the test does to the server ----------------------------------------------------

    def deliver(self, folder: str, raw: bytes, internal_date: datetime = _INTERNAL_DATE) -> int:
        """Append a mail to `folder` (created on first use) and return its UID."""
        box = self.folders.setdefault(folder, FakeFolder(uidvalidity=1))
        uid = box.next_uid
        # As Dovecot does on APPEND: bare LF line ends are stored (and served) as CRLF.
        box.mails[uid] = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        box.dates[uid] = internal_date
        box.next_uid += 1
        return uid

    def renumber(self, folder: str, uidvalidity: int, mails: Sequence[bytes], first_uid: int = 1) -> None:
        """Replace `folder` by a new UIDVALIDITY epoch holding `mails` in this order (a rebuilt index).

        The old UIDs' keywords go with the old epoch.
        """
        self.flags = {place: flags for place, flags in self.flags.items() if place[0] != folder}
        self.folders[folder] = FakeFolder(uidvalidity=uidvalidity, next_uid=first_uid)
        for raw in mails:
            self.deliver(folder, raw)

    # -- the Mailbox port --------------------------------------------------------------------

    def __enter__(self) -> FakeMailbox:
        self.sessions += 1
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.selected = None

    def _folder(self) -> str:
        if self.selected is None:
            raise AssertionError("no folder selected")
        return self.selected

    def _box(self) -> FakeFolder:
        return self.folders[self._folder()]

    def select(self, folder: str, writable: bool = False) -> FolderStatus:
        """Select `folder` and return its status; a missing folder fails as on a real server."""
        if folder not in self.folders:
            raise MailboxError(f"selecting folder {folder!r} failed: Mailbox doesn't exist")
        self.selected = folder
        self.writable = writable
        box = self.folders[folder]
        return FolderStatus(uidvalidity=box.uidvalidity, uidnext=box.next_uid, exists=len(box.mails))

    def uids_after(self, last_uid: int) -> list[int]:
        """Return the UIDs above `last_uid` in the selected folder, ascending."""
        return sorted(uid for uid in self._box().mails if uid > last_uid)

    def uids_since(self, day: date) -> list[int]:
        """Return the UIDs whose internal date is on or after `day` (SEARCH SINCE ignores the time)."""
        box = self._box()
        return sorted(uid for uid in box.mails if box.dates[uid].date() >= day)

    # Dovecot answers a STORE in a folder selected read-only (EXAMINE) with OK and changes
    # nothing; the fake does the same, so a pass that forgets `writable` loses its flags here too.

    def add_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        """Set keywords on mail of the folder selected writable (absent UIDs are ignored, as by a server)."""
        box = self._box()
        for uid in uids:
            if self.writable and uid in box.mails:
                self.flags.setdefault((self._folder(), uid), set()).update(flags)

    def remove_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        """Clear keywords on mail of the folder selected writable."""
        for uid in uids:
            if self.writable:
                self.flags.get((self._folder(), uid), set()).difference_update(flags)

    def move(self, uids: Sequence[int], folder: str) -> None:
        """Move mail to `folder` (created when missing) under new UIDs there, keywords and dates kept."""
        source, box = self._folder(), self._box()
        for uid in sorted(set(uids)):
            if uid not in box.mails:
                continue
            new_uid = self.deliver(folder, box.mails.pop(uid), box.dates.pop(uid))
            moved = self.flags.pop((source, uid), set())
            if moved:
                self.flags[(folder, new_uid)] = moved

    def find_message(self, message_id: str) -> list[int]:
        """UIDs in the selected folder whose Message-ID header contains `message_id` (SEARCH HEADER)."""
        box = self._box()
        return sorted(
            uid for uid, raw in box.mails.items() if message_id.lower() in message_id_field(raw).lower()
        )

    def message_id_headers(self, uids: Sequence[int]) -> dict[int, HeaderProbe]:
        """Return the Message-ID lines, size and threading lines of each existing UID (absent: left out)."""
        box = self._box()
        self.header_fetches += 1
        return {
            uid: HeaderProbe(message_id_field(raw), len(raw), thread_fields(raw))
            for uid in uids
            if (raw := box.mails.get(uid)) is not None
        }

    def fetch(self, folder: str, uids: Sequence[int]) -> Iterator[FetchedMail]:
        """Yield the full mails of the existing `uids`, ascending by UID."""
        if folder != self.selected:
            raise AssertionError(f"fetch from {folder!r} while {self.selected!r} is selected")
        box = self._box()
        for uid in sorted(set(uids)):
            if uid in box.mails:
                self.bodies_fetched += 1
                yield FetchedMail(folder=folder, uid=uid, raw=box.mails[uid], internal_date=box.dates[uid])


@dataclass
class FakeSender:
    """An SMTP server in memory: `delivered` holds (recipient, mail data) as the server took them.

    `faults` maps the number of a send (0 = the first) to how it fails: `refused` (a 4xx, nothing
    delivered), `lost_before_data` (nothing delivered), `lost_after_data` (delivered, but the
    answer was lost: `MailUncertainError`) or `crash_after_data` (delivered, then the bridge
    process dies: `Crash`).
    """

    faults: dict[int, SendFault] = field(default_factory=dict)
    attempts: int = 0
    delivered: list[tuple[str, bytes]] = field(default_factory=list)

    def send(self, message: bytes, recipient: str) -> None:
        """Take the mail as given, or fail as scripted."""
        fault = self.faults.pop(self.attempts, None)
        self.attempts += 1
        if fault == "refused":
            raise MailError(f"the SMTP server refused the reply to {recipient}: 451 try again later")
        if fault == "lost_before_data":
            raise MailError(f"the SMTP server did not accept the reply to {recipient}: connection lost")
        # SMTP carries CRLF line ends and a final line end, whatever the composer wrote.
        wire = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        self.delivered.append((recipient, wire if wire.endswith(b"\r\n") else wire + b"\r\n"))
        if fault == "lost_after_data":
            raise MailUncertainError(f"the connection broke after the reply to {recipient} was sent")
        if fault == "crash_after_data":
            raise Crash


_TITLE_FORBIDDEN = frozenset("[]{}|<>")  # some of $wgLegalTitleChars' complement
_TITLE_MAX_BYTES = 255


def _check_title(title: str, action: str) -> None:
    """Refuse a title MediaWiki cannot store, as its API does (`invalidtitle`)."""
    if _TITLE_FORBIDDEN & set(title) or len(title.encode()) > _TITLE_MAX_BYTES:
        raise WikiRefusedError(
            f"the wiki refused to {action} {title!r}: Bad title (invalidtitle)", "invalidtitle"
        )


def normalize_title(title: str) -> str:
    """Normalize a title as MediaWiki does: underscores are spaces, runs collapse, first letter upper."""
    text = " ".join(title.replace("_", " ").split())
    return text[:1].upper() + text[1:]


@dataclass
class FakePage:
    """A page's current wikitext and revision id."""

    text: str
    revision: int


# What the test wiki of tests/servers.py accepts ($wgFileExtensions, $wgMaxUploadSize).
TEST_WIKI_UPLOADS = UploadLimits(
    extensions=frozenset(
        {"png", "gif", "jpg", "jpeg", "webp", "pdf", "txt", "eml", "csv", "docx", "xlsx", "odt", "zip"}
    ),
    max_bytes=100 * 1024 * 1024,
)


def file_key(filename: str) -> str:
    """Normalize a file name as MediaWiki stores it: spaces are underscores, first letter upper."""
    text = "_".join(filename.replace("_", " ").split())
    return text[:1].upper() + text[1:]


class FakeWiki:
    """A wiki in memory: pages, files, a revision counter, and page writes that fail on demand.

    `faults` maps the number of a write (1 = the first create or append call) to where it fails:
    `before` raises `WikiUnavailableError` without changing anything, `after` changes the page and
    then raises (the answer was lost), which is what a dropped connection or an HTTP 5xx looks like.
    Uploads are not page writes: they neither count nor fail.
    """

    def __init__(self, faults: Mapping[int, FaultMode] | None = None) -> None:
        self.pages: dict[str, FakePage] = {}
        self.files: dict[str, bytes] = {}  # by file name as stored (`file_key`)
        self.faults: dict[int, FaultMode] = dict(faults or {})
        self.writes = 0  # create and append calls, whatever their outcome
        self.edits = 0  # writes that changed a page
        self.reads = 0
        self._revision = 0
        self.max_article_bytes = 2048 * 1024  # MediaWiki's default $wgMaxArticleSize
        self.limits = TEST_WIKI_UPLOADS

    # -- what the test does to the wiki ------------------------------------------------------

    def put_page(self, title: str, text: str) -> None:
        """Create or replace a page as a person would (not counted as a bridge write)."""
        self._revision += 1
        self.pages[normalize_title(title)] = FakePage(text, self._revision)

    def snapshot(self) -> dict[str, tuple[str, int]]:
        """Return every page's text and revision, to compare before and after a pass."""
        return {title: (page.text, page.revision) for title, page in self.pages.items()}

    # -- the Wiki port -------------------------------------------------------------------------

    def _start_write(self) -> FaultMode | None:
        self.writes += 1
        fault = self.faults.get(self.writes)
        if fault == "before":
            raise WikiUnavailableError(f"write {self.writes} failed before reaching the wiki (injected)")
        return fault

    def _apply(self, title: str, text: str, fault: FaultMode | None) -> EditResult:
        self._revision += 1
        self.edits += 1
        # MediaWiki trims the end of what it saves (PHP's rtrim in its pre-save transform).
        self.pages[title] = FakePage(text.rstrip(" \t\n\r\0\x0b"), self._revision)
        if fault == "after":
            raise WikiUnavailableError(f"the answer to write {self.writes} was lost (injected)")
        return EditResult(title=title, revision=self._revision)

    def create_page(self, title: str, text: str, summary: str) -> EditResult | None:
        """Create a page; return None, writing nothing, when a page of that title already exists."""
        fault = self._start_write()
        title = normalize_title(title)
        _check_title(title, "create")
        if title in self.pages:
            if fault == "after":
                raise WikiUnavailableError(f"the answer to write {self.writes} was lost (injected)")
            return None
        return self._apply(title, text, fault)

    def append_to_page(self, title: str, text: str, summary: str) -> EditResult | None:
        """Append to an existing page; return None when the page does not exist."""
        fault = self._start_write()
        title = normalize_title(title)
        _check_title(title, "append to")
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
        """Return the upload limits the test set (`limits`)."""
        return self.limits

    def file_with_sha1(self, sha1: str) -> str | None:
        """Return the title of a file with this content (the first by name, as list=allimages does)."""
        names = sorted(name for name, data in self.files.items() if hashlib.sha1(data).hexdigest() == sha1)  # noqa: S324 - MediaWiki's own file key
        return f"File:{names[0]}" if names else None

    def upload(self, filename: str, data: bytes, comment: str) -> str:
        """Store a file; an identical file (by name or content) is success, another of its name refused."""
        name = file_key(filename)
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if extension not in self.limits.extensions:
            raise WikiRefusedError(f"the wiki refused to upload {filename!r}: file type", "filetype-banned")
        if not data:
            raise WikiRefusedError(f"the wiki refused to upload {filename!r}: empty file", "empty-file")
        if len(data) > self.limits.max_bytes:
            raise WikiRefusedError(f"the wiki refused to upload {filename!r}: too large", "file-too-large")
        existing = self.file_with_sha1(hashlib.sha1(data).hexdigest())  # noqa: S324 - MediaWiki's own file key
        if existing is not None:
            return existing
        if name in self.files:
            raise WikiRefusedError(f"a different file named {filename!r} exists on the wiki", "fileexists")
        self.files[name] = data
        self.edits += 1
        return f"File:{name}"

    def page_content(self, title: str) -> PageContent | None:
        """Return the current wikitext and revision of a page, or None when it does not exist."""
        self.reads += 1
        title = normalize_title(title)
        page = self.pages.get(title)
        return None if page is None else PageContent(title=title, text=page.text, revision=page.revision)
