"""The continuation-page table of the state store: which threads are parts of a longer one.

A thread whose page is full goes on on a continuation page, and each part is a thread row of
its own (with its own title and messages), so the intent/confirm protocol and crash recovery
work per part unchanged. `thread_parts` links a part to the part before it and to the thread's
first part (whose title names the later ones). Once a part's page is confirmed, the earlier
parts are redirected to it (`threads.merged_into`, without a merge note), so later mail of the
thread lands on the last part; the link from the previous page to it is recorded `pending`
until it is written. Part of every state store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bridge.adapters.state.sql import StateConnection, now
from bridge.adapters.state.statuses import PartLink


@dataclass(frozen=True, slots=True)
class ThreadPart:
    """Where a thread's page stands in its sequence of parts."""

    thread_id: int
    first_id: int
    number: int
    previous_id: int | None = None


@dataclass(frozen=True, slots=True)
class PendingPartLink:
    """A confirmed continuation page whose previous page may still lack the link to it."""

    thread_id: int
    page_title: str
    previous_id: int
    previous_title: str


class PartLookup(Protocol):
    """Which part of its thread a thread is (the outbox counts replies per whole thread)."""

    def thread_part(self, thread_id: int) -> ThreadPart: ...


class ThreadPartLedger(PartLookup, Protocol):
    """The continuation parts the thread pages use (part of the `StateStore` interface)."""

    def new_part(self, mailbox: str, candidate_title: str, previous: ThreadPart) -> int: ...
    def make_current_part(self, thread_id: int) -> None: ...
    def part_link_done(self, thread_id: int) -> None: ...
    def pending_part_links(self, mailbox: str) -> list[PendingPartLink]: ...


class ThreadPartTables(StateConnection):
    """Continuation parts of threads (part of every state store)."""

    def thread_part(self, thread_id: int) -> ThreadPart:
        """Return the part a thread is: its first part and number (a thread of one page is part 1)."""
        rows = self._query(
            "SELECT first_id, part, previous_id FROM thread_parts WHERE thread_id = ?", (thread_id,)
        )
        if not rows:
            return ThreadPart(thread_id, thread_id, 1)
        first, number, previous = (int(str(value)) for value in rows[0])
        return ThreadPart(thread_id, first, number, previous)

    def new_part(self, mailbox: str, candidate_title: str, previous: ThreadPart) -> int:
        """Create the thread row of the part after `previous`, trying `candidate_title`; return its id."""
        with self._transaction() as db:
            row = db.execute(
                "INSERT INTO threads (mailbox, candidate_title, created_at) VALUES (?, ?, ?) RETURNING id",
                (mailbox, candidate_title, now()),
            ).fetchone()
            thread_id = int(row[0])
            db.execute(
                "INSERT INTO thread_parts (thread_id, first_id, previous_id, part, link) "  # noqa: S608 - constant SQL
                f"VALUES (?, ?, ?, ?, '{PartLink.PENDING}')",
                (thread_id, previous.first_id, previous.thread_id, previous.number + 1),
            )
            return thread_id

    def make_current_part(self, thread_id: int) -> None:
        """Send the thread's mail to this confirmed part: the previous part (and what it got) goes here."""
        with self._transaction() as db:
            row = db.execute(
                f"SELECT previous_id FROM thread_parts WHERE thread_id = ?{self.dialect.for_update}",  # noqa: S608 - constant SQL
                (thread_id,),
            ).fetchone()
            if row is None:
                return
            db.execute(
                "UPDATE threads SET merged_into = ? WHERE id != ? AND (id = ? OR merged_into = ?)",
                (thread_id, thread_id, row[0], row[0]),
            )

    def part_link_done(self, thread_id: int) -> None:
        """Record that the previous page links to this part (or cannot, and never will)."""
        with self._transaction() as db:
            db.execute(f"UPDATE thread_parts SET link = '{PartLink.DONE}' WHERE thread_id = ?", (thread_id,))  # noqa: S608 - constant SQL

    def pending_part_links(self, mailbox: str) -> list[PendingPartLink]:
        """Return confirmed parts whose previous page may still lack the link to them."""
        rows = self._query(
            "SELECT t.id, t.page_title, p.previous_id, o.page_title FROM thread_parts p "  # noqa: S608 - constant SQL
            "JOIN threads t ON t.id = p.thread_id JOIN threads o ON o.id = p.previous_id "
            f"WHERE t.mailbox = ? AND p.link = '{PartLink.PENDING}' AND t.page_title IS NOT NULL "
            "AND o.page_title IS NOT NULL ORDER BY t.id",
            (mailbox,),
        )
        return [PendingPartLink(int(str(r[0])), str(r[1]), int(str(r[2])), str(r[3])) for r in rows]
