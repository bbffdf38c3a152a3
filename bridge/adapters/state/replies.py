"""The reply tables of the state store: drafts awaiting their message, and the replies.

A link reply is drafted (with what composing it needs) before its message's wiki edit. Once the
message is confirmed, by the edit's answer or by recovery finding its marker on the page, the
draft is promoted to a reply row: `intended` (with its bytes) or `suppressed` (with the reason).
A draft whose message intent was discarded is dropped. Reply rows then go `sending` → `sent`,
back to `intended` (refused for now), `refused` (for good) or `uncertain` (the server may have
it: never sent again). Part of every state store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from bridge.adapters.state.sql import StateConnection, Transaction, now
from bridge.adapters.state.statuses import (
    GIVEN_REPLIES,
    OPEN_REPLIES,
    MessageStatus,
    ReplyKind,
    ReplyStatus,
    sql_list,
)

_GIVEN = sql_list(GIVEN_REPLIES)


@dataclass(frozen=True, slots=True)
class ReplyIntent:
    """A reply that is due (or was cut short): to whom, about which message."""

    message_id: str
    recipient: str
    kind: ReplyKind
    thread_id: int | None
    status: ReplyStatus
    payload: bytes


@dataclass(frozen=True, slots=True)
class ReplyDraft:
    """A link reply decided before its message's wiki edit, waiting for the edit's confirmation.

    `seed` is the serialised `replies.ReplySeed`; `reason` the loop rule that forbids a reply
    (decided from the parsed mail, which later stages no longer have), or None.
    """

    message_id: str
    recipient: str
    seed: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class ConfirmedDraft:
    """A draft whose message the wiki now holds, with the message's thread and page."""

    draft: ReplyDraft
    thread_id: int
    page_title: str


class ReplyLedger(Protocol):
    """The reply ledger the outbox uses (part of the `StateStore` interface)."""

    def record_reply_drafts(self, mailbox: str, drafts: Sequence[ReplyDraft]) -> None: ...
    def confirmed_reply_drafts(self, mailbox: str) -> list[ConfirmedDraft]: ...
    def drop_orphaned_reply_drafts(self, mailbox: str) -> int: ...
    def promote_reply_draft(
        self, mailbox: str, message_id: str, thread_id: int, reason: str | None, payload: bytes | None
    ) -> bool: ...
    def record_reply(
        self,
        mailbox: str,
        message_id: str,
        recipient: str,
        kind: ReplyKind,
        thread_id: int | None,
        suppressed_because: str | None,
        payload: bytes | None = None,
    ) -> bool: ...
    def replied_in_thread(self, mailbox: str, thread_id: int, recipient: str) -> bool: ...
    def replies_since(self, recipient: str, since: datetime) -> int: ...
    def open_replies(self, mailbox: str) -> list[ReplyIntent]: ...
    def set_reply_status(
        self, mailbox: str, message_id: str, recipient: str, kind: ReplyKind, status: ReplyStatus
    ) -> None: ...


def _insert_reply(
    db: Transaction,
    mailbox: str,
    message_id: str,
    recipient: str,
    kind: ReplyKind,
    thread_id: int | None,
    suppressed_because: str | None,
    payload: bytes | None,
) -> bool:
    cursor = db.execute(
        "INSERT INTO replies "
        "(mailbox, message_id, recipient, kind, thread_id, status, reason, created_at, payload) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (
            mailbox,
            message_id,
            recipient.lower(),
            kind,
            thread_id,
            ReplyStatus.SUPPRESSED if suppressed_because else ReplyStatus.INTENDED,
            suppressed_because,
            now(),
            payload,
        ),
    )
    return cursor.rowcount == 1


class ReplyTables(StateConnection):
    """Reply drafts and reply rows (part of every state store)."""

    def record_reply_drafts(self, mailbox: str, drafts: Sequence[ReplyDraft]) -> None:
        """Record, before the wiki edit, the link reply each message's sender is to get once it is confirmed.

        A draft recorded again (the mail is published again after a discarded intent) replaces the old one.
        """
        with self._transaction() as db:
            # Deleted and inserted again (not updated), so a replaced draft counts as the newest.
            db.executemany(
                "DELETE FROM reply_drafts WHERE mailbox = ? AND message_id = ?",
                [(mailbox, d.message_id) for d in drafts],
            )
            stamp = now()
            db.executemany(
                "INSERT INTO reply_drafts (mailbox, message_id, recipient, seed, reason, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(mailbox, d.message_id, d.recipient.lower(), d.seed, d.reason, stamp) for d in drafts],
            )

    def confirmed_reply_drafts(self, mailbox: str) -> list[ConfirmedDraft]:
        """Return the drafts whose message is confirmed on the wiki, in the order they were drafted."""
        rows = self._query(
            "SELECT d.message_id, d.recipient, d.seed, d.reason, m.thread_id, t.page_title "  # noqa: S608 - constant SQL
            "FROM reply_drafts d JOIN messages m ON m.mailbox = d.mailbox AND m.message_id = d.message_id "
            "JOIN threads t ON t.id = m.thread_id "
            f"WHERE d.mailbox = ? AND m.status = '{MessageStatus.DONE}' AND t.page_title IS NOT NULL "
            "ORDER BY d.rowid",
            (mailbox,),
        )
        return [
            ConfirmedDraft(
                ReplyDraft(str(r[0]), str(r[1]), str(r[2]), None if r[3] is None else str(r[3])),
                int(str(r[4])),
                str(r[5]),
            )
            for r in rows
        ]

    def drop_orphaned_reply_drafts(self, mailbox: str) -> int:
        """Drop drafts whose message intent was discarded (or never recorded); return how many.

        Their mail is published again later, which drafts its reply anew.
        """
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM reply_drafts WHERE mailbox = ? AND NOT EXISTS (SELECT 1 FROM messages m "
                "WHERE m.mailbox = reply_drafts.mailbox AND m.message_id = reply_drafts.message_id)",
                (mailbox,),
            )
            return int(cursor.rowcount)

    def promote_reply_draft(
        self,
        mailbox: str,
        message_id: str,
        thread_id: int,
        reason: str | None,
        payload: bytes | None,
    ) -> bool:
        """Turn a confirmed message's draft into its link reply row, in one transaction.

        Returns False when there was no draft any more, or the reply was recorded before.
        """
        with self._transaction() as db:
            row = db.execute(
                "SELECT recipient FROM reply_drafts "  # noqa: S608 - constant SQL
                f"WHERE mailbox = ? AND message_id = ?{self.dialect.for_update}",
                (mailbox, message_id),
            ).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM reply_drafts WHERE mailbox = ? AND message_id = ?", (mailbox, message_id))
            return _insert_reply(
                db, mailbox, message_id, str(row[0]), ReplyKind.LINK, thread_id, reason, payload
            )

    def record_reply(
        self,
        mailbox: str,
        message_id: str,
        recipient: str,
        kind: ReplyKind,
        thread_id: int | None,
        suppressed_because: str | None,
        payload: bytes | None = None,
    ) -> bool:
        """Record a reply as intended with its composed bytes (or as suppressed, with the reason).

        Returns False when this reply was recorded before (the same message and person).
        """
        with self._transaction() as db:
            return _insert_reply(
                db, mailbox, message_id, recipient, kind, thread_id, suppressed_because, payload
            )

    def replied_in_thread(self, mailbox: str, thread_id: int, recipient: str) -> bool:
        """Tell whether `recipient` already got (or is getting) a link reply for this thread."""
        rows = self._query(
            "SELECT 1 FROM replies WHERE mailbox = ? AND thread_id = ? "  # noqa: S608 - constant SQL
            f"AND recipient = ? AND kind = '{ReplyKind.LINK}' AND status IN {_GIVEN} LIMIT 1",
            (mailbox, thread_id, recipient.lower()),
        )
        return bool(rows)

    def replies_since(self, recipient: str, since: datetime) -> int:
        """Count replies sent or due to `recipient` since `since`, over all mailboxes."""
        rows = self._query(
            f"SELECT COUNT(*) FROM replies WHERE recipient = ? AND created_at >= ? AND status IN {_GIVEN}",  # noqa: S608 - constant SQL
            (recipient.lower(), since.astimezone(UTC).isoformat(timespec="seconds")),
        )
        return int(str(rows[0][0]))

    def open_replies(self, mailbox: str) -> list[ReplyIntent]:
        """Return replies that are due (`intended`) or were cut short while sending (`sending`)."""
        rows = self._query(
            "SELECT message_id, recipient, kind, thread_id, status, payload FROM replies WHERE mailbox = ? "  # noqa: S608 - constant SQL
            f"AND status IN {sql_list(OPEN_REPLIES)} ORDER BY created_at, rowid",
            (mailbox,),
        )
        return [
            ReplyIntent(
                str(r[0]),
                str(r[1]),
                ReplyKind(str(r[2])),
                None if r[3] is None else int(str(r[3])),
                ReplyStatus(str(r[4])),
                bytes(r[5]) if isinstance(r[5], bytes) else b"",
            )
            for r in rows
        ]

    def set_reply_status(
        self, mailbox: str, message_id: str, recipient: str, kind: ReplyKind, status: ReplyStatus
    ) -> None:
        """Move a reply to `sending` (before SMTP), `sent` (after the 250) or back, `refused`, `uncertain`."""
        with self._transaction() as db:
            db.execute(
                "UPDATE replies SET status = ?, "  # noqa: S608 - constant SQL
                "attempts = attempts + "
                f"CASE WHEN CAST(? AS TEXT) = '{ReplyStatus.SENDING}' THEN 1 ELSE 0 END, "
                f"sent_at = CASE WHEN CAST(? AS TEXT) = '{ReplyStatus.SENT}' THEN ? ELSE sent_at END "
                "WHERE mailbox = ? AND message_id = ? AND recipient = ? AND kind = ?",
                (status, status, status, now(), mailbox, message_id, recipient.lower(), kind),
            )
