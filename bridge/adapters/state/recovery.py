"""The lost-state ledger of the state store: the guard's questions, and `state rebuild`'s import.

Before a pass the guard asks whether the store knows the mailbox at all (any message, or an
earlier look at its page prefix) and which marker ids of the wiki it knows. `state rebuild`
imports the pages found on the wiki as published messages; known rows are never changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bridge.adapters.state.sql import StateConnection, Transaction, chunks, now, placeholders
from bridge.adapters.state.statuses import MailAction, MergeNote, MessageStatus, PartLink


@dataclass(frozen=True, slots=True)
class LedgerMessage:
    """A published message found on the wiki by its marker (`state rebuild`), with its mail's links."""

    message_id: str
    linked_ids: tuple[str, ...] = ()
    folder: str = ""
    uid: int = 0
    # The mail is still in a read folder and `after_publish` must still flag or move it.
    mail_action: bool = False


@dataclass(frozen=True, slots=True)
class LedgerPage:
    """A thread page found on the wiki: its messages and the page its conversation continues on."""

    title: str
    revision: int
    messages: tuple[LedgerMessage, ...]
    merged_into: str | None = None
    # The next part of a long thread (a continuation page): later mail goes there.
    continued_on: str | None = None


class RecoveryTables(StateConnection):
    """The `wiki_checks` rows and the import of a ledger read from the wiki (part of every state store)."""

    def has_ledger(self, mailbox: str) -> bool:
        """Tell whether the store records any message (published or being published) of `mailbox`."""
        return bool(self._query("SELECT 1 FROM messages WHERE mailbox = ? LIMIT 1", (mailbox,)))

    def known_anywhere(self, ids: Iterable[str]) -> set[str]:
        """Return those of `ids` that the store records for any mailbox."""
        found: set[str] = set()
        for chunk in chunks(ids):
            rows = self._query(
                f"SELECT message_id FROM messages WHERE message_id IN ({placeholders(chunk)})",  # noqa: S608 - only placeholders are interpolated
                chunk,
            )
            found.update(str(row[0]) for row in rows)
        return found

    def wiki_checked(self, mailbox: str, page_prefix: str) -> bool:
        """Tell whether this store checked the wiki under `page_prefix` for pages it does not know."""
        rows = self._query(
            "SELECT 1 FROM wiki_checks WHERE mailbox = ? AND page_prefix = ?", (mailbox, page_prefix)
        )
        return bool(rows)

    def record_wiki_check(self, mailbox: str, page_prefix: str) -> None:
        """Remember that the wiki under `page_prefix` holds nothing this store does not know."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO wiki_checks (mailbox, page_prefix, checked_at) VALUES (?, ?, ?) "
                "ON CONFLICT (mailbox) DO UPDATE SET page_prefix = excluded.page_prefix, "
                "checked_at = excluded.checked_at",
                (mailbox, page_prefix, now()),
            )

    def import_ledger(self, mailbox: str, pages: Sequence[LedgerPage]) -> int:
        """Record as published the messages found on thread pages that the store does not know.

        Known messages (published or pending) and pages of other mailboxes stay as they are;
        a page's merge note becomes the thread's `merged_into`. Returns how many messages were added.
        """
        with self._transaction() as db:
            threads, added = _import_pages(db, mailbox, pages)
            for page in pages:
                # A continuation link wins over a merge note: the thread's mail goes to its last part.
                for target, note in ((page.continued_on, None), (page.merged_into, MergeNote.DONE)):
                    if target is not None and page.title in threads and target in threads:
                        db.execute(
                            "UPDATE threads SET merged_into = ?, merge_note = ? "
                            "WHERE id = ? AND merged_into IS NULL",
                            (threads[target], note, threads[page.title]),
                        )
            _import_parts(db, pages, threads)
        return added


def _import_pages(db: Transaction, mailbox: str, pages: Sequence[LedgerPage]) -> tuple[dict[str, int], int]:
    """Record each page's thread and its unknown messages; return the threads by title and the count."""
    added = 0
    stamp = now()
    threads: dict[str, int] = {}
    for page in pages:
        row = db.execute("SELECT id, mailbox FROM threads WHERE page_title = ?", (page.title,)).fetchone()
        if row is not None and row[1] != mailbox:
            continue
        if row is None:
            inserted = db.execute(
                "INSERT INTO threads (mailbox, page_title, candidate_title, created_at) VALUES (?, ?, ?, ?) "
                "RETURNING id",
                (mailbox, page.title, page.title, stamp),
            ).fetchone()
            threads[page.title] = int(inserted[0])
        else:
            threads[page.title] = int(row[0])
        for message in page.messages:
            cursor = db.execute(
                "INSERT INTO messages (mailbox, message_id, thread_id, status, folder, "  # noqa: S608 - constant SQL
                "uid, revision, published_at, mail_action) "
                f"VALUES (?, ?, ?, '{MessageStatus.DONE}', ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    mailbox,
                    message.message_id,
                    threads[page.title],
                    message.folder,
                    message.uid,
                    page.revision,
                    stamp,
                    MailAction.PENDING if message.mail_action else None,
                ),
            )
            added += cursor.rowcount
            db.executemany(
                "INSERT INTO thread_links (mailbox, linked_id, thread_id) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                [
                    (mailbox, linked, threads[page.title])
                    for linked in (message.message_id, *message.linked_ids)
                ],
            )
    return threads, added


def _import_parts(db: Transaction, pages: Sequence[LedgerPage], threads: dict[str, int]) -> None:
    """Record continuation pages: each chain's parts are numbered from its first page on."""
    following = {
        page.title: page.continued_on
        for page in pages
        if page.title in threads and page.continued_on in threads
    }
    for first in following.keys() - set(following.values()):
        previous, number = first, 1
        while (current := following.get(previous)) is not None and number <= len(following):
            number += 1
            db.execute(
                "INSERT INTO thread_parts (thread_id, first_id, previous_id, part, link) "  # noqa: S608 - constant SQL
                f"VALUES (?, ?, ?, ?, '{PartLink.DONE}') ON CONFLICT DO NOTHING",
                (threads[current], threads[first], threads[previous], number),
            )
            previous = current
