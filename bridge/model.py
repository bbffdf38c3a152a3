"""Value types shared by the pure core and the adapters (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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

    @property
    def parent_id(self) -> str | None:
        """The direct parent's id: the last reference, as RFC 5322 orders them."""
        return self.references[-1] if self.references else None


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
