"""The message ledger of the state store: which mail is published, or about to be, on which thread.

Before a thread's wiki edit its messages are recorded `pending` (with every id they link, so
later mail finds the thread); after the wiki's answer they are `done` with the revision. An
intent the wiki never carried out is discarded, and a thread left without messages with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bridge.adapters.state.privacy import PrivacyTables
from bridge.adapters.state.sql import chunks, now, placeholders
from bridge.adapters.state.statuses import MailAction, MessageStatus, QuarantineStatus


@dataclass(frozen=True, slots=True)
class IntendedMessage:
    """What the store needs to know of a message before its wiki write."""

    message_id: str
    linked_ids: tuple[str, ...]
    folder: str
    uid: int
    content_hash: str | None = None
    raw_size: int | None = None
    sender: str = ""  # kept only as a keyed hash, so `forget --address` finds the person's mail


@dataclass(frozen=True, slots=True)
class PendingMessage:
    """A message whose wiki write was intended but not confirmed (a pass was cut short)."""

    message_id: str
    thread_id: int
    page_title: str
    page_confirmed: bool


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the store knows of a published mail's content (None for mail published before v4)."""

    content_hash: str | None
    raw_size: int | None
    held: bool = False  # in quarantine, not published


class MessageLedgerTables(PrivacyTables):
    """The `messages` rows and their `thread_links` (part of every state store)."""

    def known_message_ids(self, mailbox: str, ids: Iterable[str]) -> set[str]:
        """Return those of `ids` that are already published or being published for `mailbox`."""
        found: set[str] = set()
        for chunk in chunks(ids):
            rows = self._query(
                "SELECT message_id FROM messages WHERE mailbox = ? "  # noqa: S608 - only placeholders are interpolated
                f"AND message_id IN ({placeholders(chunk)})",
                (mailbox, *chunk),
            )
            found.update(str(row[0]) for row in rows)
        return found

    def fingerprints(self, mailbox: str, ids: Iterable[str]) -> dict[str, Fingerprint]:
        """Return content hash and raw size of those of `ids` that are published, being published
        or held in quarantine: another mail under such an id is a copy or a variant of that one.
        """
        found: dict[str, Fingerprint] = {}
        for chunk in chunks(ids):
            marks = placeholders(chunk)
            # Quarantined rows first, so a published row of the same id overrides them below.
            rows = self._query(
                f"SELECT message_id, content_hash, raw_size, 1 FROM quarantine "  # noqa: S608 - only placeholders and constants are interpolated
                f"WHERE mailbox = ? AND status = '{QuarantineStatus.QUARANTINED}' "
                f"AND message_id IN ({marks}) "
                f"UNION ALL SELECT message_id, content_hash, raw_size, 0 FROM messages "
                f"WHERE mailbox = ? AND message_id IN ({marks})",
                (mailbox, *chunk, mailbox, *chunk),
            )
            for message_id, digest, size, held in rows:
                found[str(message_id)] = Fingerprint(
                    None if digest is None else str(digest),
                    None if size is None else int(str(size)),
                    bool(held),
                )
        return found

    def record_intent(self, mailbox: str, thread_id: int, messages: Sequence[IntendedMessage]) -> None:
        """Record, before the wiki write, that `messages` are about to be published on a thread."""
        senders = [self.pseudonym(m.sender) if m.sender else None for m in messages]
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO messages (mailbox, message_id, thread_id, status, folder, uid, content_hash, "  # noqa: S608 - constant SQL
                f"raw_size, sender_key) VALUES (?, ?, ?, '{MessageStatus.PENDING}', ?, ?, ?, ?, ?)",
                [
                    (
                        mailbox,
                        m.message_id,
                        thread_id,
                        m.folder,
                        m.uid,
                        m.content_hash,
                        m.raw_size,
                        sender,
                    )
                    for m, sender in zip(messages, senders, strict=True)
                ],
            )
            db.executemany(
                "INSERT INTO thread_links (mailbox, linked_id, thread_id) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                [(mailbox, linked, thread_id) for m in messages for linked in (m.message_id, *m.linked_ids)],
            )

    def confirm(
        self,
        mailbox: str,
        thread_id: int,
        page_title: str,
        ids: Sequence[str],
        revision: int,
        mail_action: bool = False,
    ) -> None:
        """Record that the wiki holds `ids` on `page_title` at `revision`.

        With `mail_action`, the mails are marked for their after-publish flag or move, which may
        only happen now that the wiki write is confirmed.
        """
        action = MailAction.PENDING if mail_action else None
        with self._transaction() as db:
            db.execute("UPDATE threads SET page_title = ? WHERE id = ?", (page_title, thread_id))
            db.executemany(
                f"UPDATE messages SET status = '{MessageStatus.DONE}', revision = ?, published_at = ?, "  # noqa: S608 - constant SQL
                "mail_action = ? WHERE mailbox = ? AND message_id = ?",
                [(revision, now(), action, mailbox, mid) for mid in ids],
            )

    def pending_messages(self, mailbox: str) -> list[PendingMessage]:
        """Return the messages whose wiki write is intended but unconfirmed."""
        rows = self._query(
            "SELECT m.message_id, m.thread_id, COALESCE(t.page_title, t.candidate_title), "  # noqa: S608 - constant SQL
            "t.page_title IS NOT NULL FROM messages m JOIN threads t ON t.id = m.thread_id "
            f"WHERE m.mailbox = ? AND m.status = '{MessageStatus.PENDING}' ORDER BY m.thread_id",
            (mailbox,),
        )
        return [
            PendingMessage(str(mid), int(str(tid)), str(title), bool(confirmed))
            for mid, tid, title, confirmed in rows
        ]

    def discard_pending(self, mailbox: str, ids: Sequence[str]) -> None:
        """Forget intents the wiki never carried out; their mail is fetched and published again.

        A thread left without any message (its page was never created) is removed with its links.
        """
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM messages WHERE mailbox = ? AND message_id = ? "  # noqa: S608 - constant SQL
                f"AND status = '{MessageStatus.PENDING}'",
                [(mailbox, message_id) for message_id in ids],
            )
            orphaned = (
                "SELECT id FROM threads t WHERE mailbox = ? AND NOT EXISTS "
                "(SELECT 1 FROM messages m WHERE m.thread_id = t.id)"
            )
            db.execute(f"DELETE FROM thread_links WHERE thread_id IN ({orphaned})", (mailbox,))  # noqa: S608 - constant SQL
            db.execute(f"DELETE FROM threads WHERE id IN ({orphaned})", (mailbox,))  # noqa: S608 - constant SQL
