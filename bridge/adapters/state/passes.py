"""Failures and passes of the state store: mail not published, each pass's outcome, the status.

A failed mail stays in its mailbox and is recorded per place (folder, UIDVALIDITY, UID) with the
reason and its attempts; the retry policy sets the next try and parks it after the last one.
Each pass records its time and backlog, or its error; `mailbox_status` sums up what `status`,
the metrics and the daemon show.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from bridge.adapters.state.sql import StateConnection, now
from bridge.adapters.state.statuses import MessageStatus, QuarantineStatus
from bridge.core.retry import RetryPolicy


@dataclass(frozen=True, slots=True)
class Failure:
    """A mail that could not be published, kept in its mailbox, with the reason."""

    mailbox: str
    folder: str
    uidvalidity: int
    uid: int
    message_id: str | None
    reason: str
    attempts: int
    first_seen: str
    last_seen: str
    next_attempt_at: str | None
    parked: bool


@dataclass(frozen=True, slots=True)
class MailboxStatus:
    """What `email-wiki-bridge status` shows for one mailbox."""

    mailbox: str
    last_success: str | None
    last_error: str | None
    last_error_at: str | None
    backlog: int | None
    pages: int
    published: int
    quarantined: int
    failed: int
    parked: int


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class PassTables(StateConnection):
    """The `failures` and `passes` rows, and the status summary (part of every state store)."""

    def record_failure(
        self,
        mailbox: str,
        folder: str,
        uidvalidity: int,
        uid: int,
        message_id: str | None,
        reason: str,
        policy: RetryPolicy,
    ) -> int:
        """Record (or count again) a mail that could not be published; return its attempts so far.

        The policy sets when it is tried again, and parks it after its last automatic try.
        """
        moment = datetime.now(UTC)
        stamp = moment.isoformat(timespec="seconds")
        with self._transaction() as db:
            row = db.execute(
                "SELECT attempts FROM failures "  # noqa: S608 - constant SQL
                f"WHERE mailbox = ? AND folder = ? AND uidvalidity = ? AND uid = ?{self.dialect.for_update}",
                (mailbox, folder, uidvalidity, uid),
            ).fetchone()
            attempts = (int(row[0]) if row else 0) + 1
            next_attempt = policy.next_attempt(attempts, moment).isoformat(timespec="seconds")
            db.execute(
                "INSERT INTO failures (mailbox, folder, uidvalidity, uid, message_id, reason, attempts, "
                "first_seen, last_seen, next_attempt_at, parked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (mailbox, folder, uidvalidity, uid) DO UPDATE SET reason = excluded.reason, "
                "message_id = COALESCE(excluded.message_id, failures.message_id), "
                "attempts = excluded.attempts, "
                "last_seen = excluded.last_seen, next_attempt_at = excluded.next_attempt_at, "
                "parked = excluded.parked",
                (
                    mailbox,
                    folder,
                    uidvalidity,
                    uid,
                    message_id,
                    reason,
                    attempts,
                    stamp,
                    stamp,
                    next_attempt,
                    int(policy.parks(attempts)),
                ),
            )
        return attempts

    def retry_failures(self, mailbox: str, message_id: str | None = None) -> int:
        """Make failed mail of a mailbox (all, or one Message-ID) due on the next pass, parked or not.

        Attempts are kept: a mail that fails again after its last automatic try is parked again.
        """
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE failures SET parked = 0, next_attempt_at = NULL "
                "WHERE mailbox = ? AND (CAST(? AS TEXT) IS NULL OR message_id = ?)",
                (mailbox, message_id, message_id),
            )
            return cursor.rowcount

    def clear_failures(self, mailbox: str, places: Iterable[tuple[str, int, int]]) -> None:
        """Forget the failures at these (folder, UIDVALIDITY, UID) places: published or duplicates now.

        One transaction for a whole batch, so a rescan of a large folder costs no write per mail.
        """
        rows = [(mailbox, folder, uidvalidity, uid) for folder, uidvalidity, uid in places]
        if not rows:
            return
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM failures WHERE mailbox = ? AND folder = ? AND uidvalidity = ? AND uid = ?", rows
            )

    def failures(self, mailbox: str, folder: str | None = None) -> list[Failure]:
        """Return the recorded failures of a mailbox (of one folder when given), oldest first."""
        rows = self._query(
            "SELECT mailbox, folder, uidvalidity, uid, message_id, reason, attempts, first_seen, last_seen, "
            "next_attempt_at, parked FROM failures WHERE mailbox = ? "
            "AND (CAST(? AS TEXT) IS NULL OR folder = ?) "
            "ORDER BY first_seen, uid",
            (mailbox, folder, folder),
        )
        return [
            Failure(
                mailbox=str(r[0]),
                folder=str(r[1]),
                uidvalidity=int(str(r[2])),
                uid=int(str(r[3])),
                message_id=_text(r[4]),
                reason=str(r[5]),
                attempts=int(str(r[6])),
                first_seen=str(r[7]),
                last_seen=str(r[8]),
                next_attempt_at=_text(r[9]),
                parked=bool(r[10]),
            )
            for r in rows
        ]

    def record_pass(self, mailbox: str, error: str | None, backlog: int | None = None) -> None:
        """Record the outcome of a pass: its time and backlog on success, the error sentence otherwise."""
        stamp = now()
        with self._transaction() as db:
            if error is None:
                db.execute(
                    "INSERT INTO passes (mailbox, last_success, backlog) VALUES (?, ?, ?) "
                    "ON CONFLICT (mailbox) DO UPDATE SET last_success = excluded.last_success, "
                    "backlog = excluded.backlog",
                    (mailbox, stamp, backlog),
                )
            else:
                db.execute(
                    "INSERT INTO passes (mailbox, last_error, last_error_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (mailbox) DO UPDATE SET last_error = excluded.last_error, "
                    "last_error_at = excluded.last_error_at",
                    (mailbox, error, stamp),
                )

    def mailbox_status(self, mailbox: str) -> MailboxStatus:
        """Summarise a mailbox for `status`: last pass, last error, backlog, pages, quarantine."""
        passes = self._query(
            "SELECT last_success, last_error, last_error_at, backlog FROM passes WHERE mailbox = ?",
            (mailbox,),
        )
        last_success, last_error, last_error_at, backlog = passes[0] if passes else (None, None, None, None)
        counts = self._query(
            "SELECT (SELECT COUNT(*) FROM threads WHERE mailbox = ? AND page_title IS NOT NULL), "  # noqa: S608 - constant SQL
            f"(SELECT COUNT(*) FROM messages WHERE mailbox = ? AND status = '{MessageStatus.DONE}'), "
            "(SELECT COUNT(*) FROM quarantine WHERE mailbox = ? "
            f"AND status = '{QuarantineStatus.QUARANTINED}'), "
            "(SELECT COUNT(*) FROM failures WHERE mailbox = ?), "
            "(SELECT COUNT(*) FROM failures WHERE mailbox = ? AND parked = 1)",
            (mailbox, mailbox, mailbox, mailbox, mailbox),
        )[0]
        return MailboxStatus(
            mailbox=mailbox,
            last_success=_text(last_success),
            last_error=_text(last_error),
            last_error_at=_text(last_error_at),
            backlog=None if backlog is None else int(str(backlog)),
            pages=int(str(counts[0])),
            published=int(str(counts[1])),
            quarantined=int(str(counts[2])),
            failed=int(str(counts[3])),
            parked=int(str(counts[4])),
        )

    def published_per_page(self, mailbox: str) -> dict[str, int]:
        """How many messages of `mailbox` each page shows (confirmed ones): `status` counts routes by them."""
        rows = self._query(
            "SELECT t.page_title, COUNT(*) FROM messages m JOIN threads t ON t.id = m.thread_id "  # noqa: S608 - constant SQL
            f"WHERE m.mailbox = ? AND m.status = '{MessageStatus.DONE}' AND t.page_title IS NOT NULL "
            "GROUP BY t.page_title",
            (mailbox,),
        )
        return {str(title): int(str(count)) for title, count in rows}
