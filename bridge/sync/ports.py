"""Ports: what the sync code needs of the mailbox, the wiki and the mail sender, as small Protocols.

The concrete adapters (`ImapMailbox`, `WikiClient`, `Mailer`) satisfy them structurally, and so do
the in-memory fakes of the tests; tests/contract holds both to the same behaviour. Each port has
only the methods its users call; a user that needs less takes the smaller port.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import date
from typing import Protocol

from bridge.adapters.imap import FolderStatus
from bridge.adapters.imap_probe import HeaderProbe
from bridge.adapters.wiki import EditResult, PageContent
from bridge.adapters.wiki_history import FORGET_RIGHTS, Revision
from bridge.core.attachments import UploadLimits
from bridge.core.model import FetchedMail
from bridge.service.config import MailboxSettings


class MailReader(Protocol):
    """Reading one folder at a time, without changing it (intake, `state rebuild`)."""

    def select(self, folder: str, writable: bool = False) -> FolderStatus:
        """Select `folder` (read-only unless `writable`); `MailboxError` when it does not exist."""
        ...

    def uids_after(self, last_uid: int) -> list[int]:
        """The UIDs above `last_uid` in the selected folder, ascending (none when it is the highest)."""
        ...

    def message_id_headers(self, uids: Sequence[int]) -> dict[int, HeaderProbe]:
        """The raw Message-ID header lines, RFC822.SIZE and threading headers of each existing UID."""
        ...

    def fetch(self, folder: str, uids: Sequence[int]) -> Iterator[FetchedMail]:
        """The full mails of the existing `uids` of the selected `folder`, ascending, \\Seen untouched."""
        ...


class Mailbox(MailReader, Protocol):
    """A session of a pass or a quarantine release: reading, searching, flagging and moving mail."""

    def uids_since(self, day: date) -> list[int]:
        """The UIDs of mail whose internal date is on or after `day`, ascending."""
        ...

    def find_message(self, message_id: str) -> list[int]:
        """The UIDs in the selected folder whose Message-ID header contains `message_id`."""
        ...

    def add_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        """Set keywords on mail of the folder selected writable."""
        ...

    def remove_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        """Clear keywords on mail of the folder selected writable."""
        ...

    def move(self, uids: Sequence[int], folder: str) -> None:
        """Move mail of the folder selected writable to `folder` (created when missing)."""
        ...


# Opens one logged-in session of a mapping; `ImapMailbox` itself is one, a test passes a fake.
OpenMailbox = Callable[[MailboxSettings], AbstractContextManager[Mailbox]]
OpenMailReader = Callable[[MailboxSettings], AbstractContextManager[MailReader]]


class WikiPages(Protocol):
    """Reading, creating and appending to thread pages (the continuation pages of a thread)."""

    def page_content(self, title: str) -> PageContent | None:
        """The current wikitext and revision of a page, or None when it does not exist."""
        ...

    def create_page(self, title: str, text: str, summary: str) -> EditResult | None:
        """Create a page; None, writing nothing, when a page of that title exists."""
        ...

    def append_to_page(self, title: str, text: str, summary: str) -> EditResult | None:
        """Append to an existing page; None when the page does not exist."""
        ...

    def page_length(self, title: str) -> int | None:
        """A page's size in bytes of UTF-8, or None when it does not exist."""
        ...

    def max_article_size(self) -> int:
        """The largest page the wiki stores, in bytes of wikitext."""
        ...


class Wiki(WikiPages, Protocol):
    """What a pass needs of the wiki: thread pages and attachment files."""

    def upload_limits(self) -> UploadLimits:
        """The file extensions and the largest upload the wiki accepts."""
        ...

    def upload(self, filename: str, data: bytes, comment: str) -> str:
        """Upload a file and return its title; an existing file of this content (by this name or
        another) is success, and is what is returned."""
        ...


class TemplateWiki(Protocol):
    """What installing the bridge's templates needs: read, create, replace on a base revision."""

    def page_content(self, title: str) -> PageContent | None:
        """The current wikitext and revision of a page, or None when it does not exist."""
        ...

    def create_page(self, title: str, text: str, summary: str) -> EditResult | None:
        """Create a page; None, writing nothing, when a page of that title exists."""
        ...

    def replace_page(self, title: str, text: str, summary: str, base_revision: int) -> EditResult:
        """Replace a page's text, failing if someone saved after `base_revision`."""
        ...


class WikiListing(Protocol):
    """What the lost-state guard and `state rebuild` read: every page under a prefix."""

    def pages_under(self, prefix: str, limit: int | None = None) -> Iterator[PageContent]:
        """The pages titled `prefix/…` with their wikitext (at most `limit` with a limit)."""
        ...


class AccountWiki(Protocol):
    """What linking people needs of the wiki: which accounts exist, the user namespace's name."""

    def user_accounts(self, names: Sequence[str]) -> dict[str, bool]:
        """Whether each user name (as the wiki writes it) is an existing account."""
        ...

    def user_namespace(self) -> str:
        """The local name of the user namespace (`User`, `Benutzer` …)."""
        ...


class PeopleWiki(AccountWiki, Protocol):
    """What the participants note needs besides: reading a page, replacing it on a base revision."""

    def page_content(self, title: str) -> PageContent | None:
        """The current wikitext and revision of a page, or None when it does not exist."""
        ...

    def replace_page(self, title: str, text: str, summary: str, base_revision: int) -> EditResult:
        """Replace a page's text, failing if someone saved after `base_revision`."""
        ...


class Sender(Protocol):
    """What the outbox needs of an SMTP session (`smtp.Mailer`, or a fake in tests)."""

    def send(self, message: bytes, recipient: str) -> None:
        """Deliver `message` as given to `recipient`; `MailError`/`MailUncertainError` on failure."""
        ...


class HistoryWiki(WikiListing, Protocol):
    """What `forget` needs: the pages, their history, and revision and page deletion."""

    def page_content(self, title: str) -> PageContent | None:
        """The current wikitext and revision of a page, or None when it does not exist."""
        ...

    def replace_page(self, title: str, text: str, summary: str, base_revision: int) -> EditResult:
        """Replace a page's text, failing if someone saved after `base_revision`."""
        ...

    def missing_rights(self, needed: Sequence[str] = FORGET_RIGHTS) -> list[str]:
        """The rights of `needed` that the account lacks."""
        ...

    def revisions(self, title: str) -> Iterator[Revision]:
        """Every revision of `title` with its text, newest first."""
        ...

    def hide_revisions(self, title: str, revisions: Sequence[int], reason: str) -> None:
        """Hide the text and summary of `revisions` of `title`."""
        ...

    def delete_page(self, title: str, reason: str) -> bool:
        """Delete a page (or file); False when it was already gone."""
        ...
