"""The quarantine of the state store: mail the sender policy kept off the wiki, until released.

A held mail is recorded once per Message-ID, with its content hash and size so that other
content under the same id is held as a variant of its own. Releasing it records where the mail
is now, and the next pass publishes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bridge.adapters.state.sql import StateConnection, chunks, now, placeholders
from bridge.adapters.state.statuses import QuarantineStatus


@dataclass(frozen=True, slots=True)
class QuarantinedMail:
    """A mail the sender policy kept off the wiki."""

    mailbox: str
    message_id: str
    folder: str
    uidvalidity: int
    uid: int
    sender: str
    subject: str
    reason: str
    status: QuarantineStatus
    created_at: str
    content_hash: str | None = None
    raw_size: int | None = None


class QuarantineTables(StateConnection):
    """The `quarantine` rows (part of every state store)."""

    def quarantine_mail(self, entry: QuarantinedMail) -> None:
        """Record a mail the sender policy refused (idempotent)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO quarantine "  # noqa: S608 - constant SQL
                "(mailbox, message_id, folder, uidvalidity, uid, sender, subject, "
                "reason, status, created_at, content_hash, raw_size) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, '{QuarantineStatus.QUARANTINED}', ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (
                    entry.mailbox,
                    entry.message_id,
                    entry.folder,
                    entry.uidvalidity,
                    entry.uid,
                    entry.sender,
                    entry.subject,
                    entry.reason,
                    now(),
                    entry.content_hash,
                    entry.raw_size,
                ),
            )

    def quarantined(
        self, mailbox: str | None = None, status: QuarantineStatus | None = None
    ) -> list[QuarantinedMail]:
        """Return quarantined (and released) mails, of one mailbox and one status when given."""
        rows = self._query(
            "SELECT mailbox, message_id, folder, uidvalidity, uid, sender, subject, reason, status, "
            "created_at "
            "FROM quarantine WHERE (CAST(? AS TEXT) IS NULL OR mailbox = ?) "
            "AND (CAST(? AS TEXT) IS NULL OR status = ?) "
            "ORDER BY created_at, uid",
            (mailbox, mailbox, status, status),
        )
        return [
            QuarantinedMail(
                mailbox=str(r[0]),
                message_id=str(r[1]),
                folder=str(r[2]),
                uidvalidity=int(str(r[3])),
                uid=int(str(r[4])),
                sender=str(r[5]),
                subject=str(r[6]),
                reason=str(r[7]),
                status=QuarantineStatus(str(r[8])),
                created_at=str(r[9]),
            )
            for r in rows
        ]

    def release(self, mailbox: str, message_id: str, folder: str, uidvalidity: int, uid: int) -> None:
        """Mark a quarantined mail released, now at (`folder`, `uid`), so the next pass publishes it."""
        with self._transaction() as db:
            db.execute(
                f"UPDATE quarantine SET status = '{QuarantineStatus.RELEASED}', folder = ?, uidvalidity = ?, "  # noqa: S608 - constant SQL
                "uid = ? WHERE mailbox = ? AND message_id = ?",
                (folder, uidvalidity, uid, mailbox, message_id),
            )

    def quarantine_status(self, mailbox: str, ids: Iterable[str]) -> dict[str, QuarantineStatus]:
        """Return `quarantined` or `released` for those of `ids` that the policy refused once."""
        found: dict[str, QuarantineStatus] = {}
        for chunk in chunks(ids):
            rows = self._query(
                f"SELECT message_id, status FROM quarantine WHERE mailbox = ? AND message_id IN ({placeholders(chunk)})",  # noqa: S608, E501 - only placeholders are interpolated
                (mailbox, *chunk),
            )
            found.update((str(mid), QuarantineStatus(str(status))) for mid, status in rows)
        return found
