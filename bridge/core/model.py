"""Value types shared by the pure core and the adapters (no I/O here)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file carried by a mail; `content_id` is set for inline parts (`cid:` images in HTML)."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)
    content_id: str | None = None
    inline: bool = False
    # Listed on the page but never uploaded (a type the mapping's redaction withholds).
    withheld: bool = False

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the content: names the file on the wiki, so equal files are one."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.data)


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """The summary of one invitation (text/calendar VEVENT)."""

    summary: str
    start: str
    end: str
    location: str


@dataclass(frozen=True, slots=True)
class AutomationHeaders:
    """Headers that tell machine-sent mail and how the receiving server authenticated the sender."""

    auto_submitted: str = ""
    precedence: str = ""
    list_id: str = ""
    list_unsubscribe: str = ""
    return_path: str | None = None
    auto_response_suppress: str = ""
    authentication_results: tuple[str, ...] = ()
    # For the reply loop rules: the Sender address, X-Autoreply/X-Autorespond as "Name: value",
    # and the content types of the mail's own MIME tree (a DSN is multipart/report).
    sender: str = ""
    autoresponder: tuple[str, ...] = ()
    content_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Message:
    """One parsed mail, reduced to what the bridge publishes.

    `message_id` is normalized (no angle brackets, lower-case domain); `references` holds the
    normalized ids of In-Reply-To and References, oldest first, without the message's own id.
    """

    message_id: str
    references: tuple[str, ...]
    subject: str
    sender_name: str
    sender_address: str
    date: datetime
    body_text: str
    has_own_id: bool = True
    thread_index: str | None = None
    body_html: str = ""
    to: tuple[tuple[str, str], ...] = ()
    cc: tuple[tuple[str, str], ...] = ()
    # The receiving server's own record of the recipient (Delivered-To, X-Original-To), for routing.
    delivered_to: tuple[str, ...] = ()
    original_to: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    forwarded: tuple[Message, ...] = ()
    events: tuple[CalendarEvent, ...] = ()
    automation: AutomationHeaders = field(default_factory=lambda: AutomationHeaders())
    original_id: str = ""
    original_references: tuple[str, ...] = ()

    @property
    def links(self) -> tuple[str, ...]:
        """The ids that tie this message to its thread.

        References when there are any; otherwise the Outlook conversation (Thread-Index), which
        Outlook keeps on replies whose References it dropped.
        """
        if self.references:
            return self.references
        return (self.thread_index,) if self.thread_index else ()


@dataclass(frozen=True, slots=True)
class FetchedMail:
    """Raw bytes of one mail as the IMAP adapter delivers them, with where they came from."""

    folder: str
    uid: int
    raw: bytes
    internal_date: datetime | None


@dataclass(frozen=True, slots=True)
class FolderPosition:
    """How far a folder has been read: the UIDVALIDITY epoch and the highest UID handled."""

    uidvalidity: int
    last_uid: int
