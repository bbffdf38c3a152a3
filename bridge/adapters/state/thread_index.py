"""The thread index of the state store: threads and their titles, linked ids, subjects, merges.

Each thread has a candidate title until the wiki confirms its page. `thread_links` maps every
own and referenced id of a published message to its thread, so later mail finds the thread by
index; `thread_subjects` keeps the latest thread per subject key (subject joining). A thread
merged into an older one resolves there (`merged_into`), and its page gets a note (`merge_note`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from bridge.adapters.state.sql import StateConnection, chunks, now, placeholders
from bridge.adapters.state.statuses import MergeNote
from bridge.core.threads import KnownSubject


@dataclass(frozen=True, slots=True)
class PendingMergeNote:
    """A thread merged into an older one whose page still lacks the note pointing there."""

    thread_id: int
    page_title: str
    into_title: str


class ThreadIndexTables(StateConnection):
    """The `threads`, `thread_links` and `thread_subjects` rows (part of every state store)."""

    def threads_for_ids(self, mailbox: str, ids: Iterable[str]) -> dict[str, int]:
        """Map those of `ids` that a known thread contains or references to that thread.

        A thread merged into an older one resolves to the older one, where its mail now goes.
        """
        found: dict[str, int] = {}
        for chunk in chunks(ids):
            rows = self._query(
                f"SELECT linked_id, thread_id FROM thread_links WHERE mailbox = ? AND linked_id IN ({placeholders(chunk)})",  # noqa: S608, E501 - only placeholders are interpolated
                (mailbox, *chunk),
            )
            found.update((str(linked), int(str(thread))) for linked, thread in rows)
        resolved = {thread: self.merge_target(thread) for thread in set(found.values())}
        return {linked: resolved[thread] for linked, thread in found.items()}

    def merge_target(self, thread_id: int) -> int:
        """Return the thread whose page `thread_id`'s mail goes to now (itself unless merged)."""
        seen = {thread_id}
        while True:
            rows = self._query("SELECT merged_into FROM threads WHERE id = ?", (thread_id,))
            if not rows or rows[0][0] is None or int(str(rows[0][0])) in seen:
                return thread_id
            thread_id = int(str(rows[0][0]))
            seen.add(thread_id)

    def known_subjects(self, mailbox: str, keys: Iterable[str]) -> dict[str, KnownSubject]:
        """Return, per subject key, the newest thread with that subject and its last message's date."""
        found: dict[str, KnownSubject] = {}
        for chunk in chunks(keys):
            asked = {self.dialect.stored_text(key): key for key in chunk}
            rows = self._query(
                f"SELECT subject_key, thread_id, last_date FROM thread_subjects WHERE mailbox = ? AND subject_key IN ({placeholders(chunk)})",  # noqa: S608, E501 - only placeholders are interpolated
                (mailbox, *chunk),
            )
            for key, thread, last_date in rows:
                found[asked.get(str(key), str(key))] = KnownSubject(
                    self.merge_target(int(str(thread))), datetime.fromisoformat(str(last_date))
                )
        return found

    def record_subject(self, mailbox: str, key: str, thread_id: int, last_date: datetime) -> None:
        """Remember the latest activity of a thread under its subject key (for subject joining)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO thread_subjects (mailbox, subject_key, thread_id, last_date) "
                "VALUES (?, ?, ?, ?) "
                "ON CONFLICT (mailbox, subject_key) DO UPDATE SET thread_id = excluded.thread_id, "
                "last_date = excluded.last_date WHERE excluded.last_date >= thread_subjects.last_date",
                (mailbox, key, thread_id, last_date.astimezone(UTC).isoformat()),
            )

    def mark_merged(self, thread_id: int, into: int) -> None:
        """Record that `thread_id` continues on the page of `into`; its page still needs the note."""
        with self._transaction() as db:
            db.execute(
                f"UPDATE threads SET merged_into = ?, merge_note = '{MergeNote.PENDING}' "  # noqa: S608 - constant SQL
                "WHERE id = ? AND merged_into IS NULL",
                (into, thread_id),
            )

    def pending_merge_notes(self, mailbox: str) -> list[PendingMergeNote]:
        """Return merged threads whose page does not have its note yet."""
        rows = self._query(
            "SELECT t.id, t.page_title, o.page_title FROM threads t JOIN threads o ON o.id = t.merged_into "  # noqa: S608 - constant SQL
            f"WHERE t.mailbox = ? AND t.merge_note = '{MergeNote.PENDING}' AND t.page_title IS NOT NULL "
            "AND o.page_title IS NOT NULL ORDER BY t.id",
            (mailbox,),
        )
        return [PendingMergeNote(int(str(r[0])), str(r[1]), str(r[2])) for r in rows]

    def merge_note_done(self, thread_id: int) -> None:
        """Record that the merged thread's page carries its note."""
        with self._transaction() as db:
            db.execute(f"UPDATE threads SET merge_note = '{MergeNote.DONE}' WHERE id = ?", (thread_id,))  # noqa: S608 - constant SQL

    def thread_page(self, thread_id: int) -> str | None:
        """Return the confirmed page title of a thread, or None while it has no page yet."""
        rows = self._query("SELECT page_title FROM threads WHERE id = ?", (thread_id,))
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    def title_taken(self, title: str) -> bool:
        """Tell whether any thread has, or is about to create, a page of this title."""
        rows = self._query(
            "SELECT 1 FROM threads WHERE page_title = ? OR candidate_title = ? LIMIT 1", (title, title)
        )
        return bool(rows)

    def titles_taken(self, base: str) -> set[str]:
        """Return the titles in use that are `base` or `base (…)` (its disambiguated siblings)."""
        # "(" sorts just before ")": the range holds exactly the titles starting with "base (".
        low, high = f"{base} (", f"{base} )"
        rows = self._query(
            "SELECT page_title FROM threads WHERE page_title = ? OR (page_title >= ? AND page_title < ?) "
            "UNION SELECT candidate_title FROM threads WHERE candidate_title = ? "
            "OR (candidate_title >= ? AND candidate_title < ?)",
            (base, low, high, base, low, high),
        )
        return {str(row[0]) for row in rows if row[0] is not None}

    def new_thread(self, mailbox: str, candidate_title: str) -> int:
        """Create a thread that will get a page, trying `candidate_title` first; return its id."""
        with self._transaction() as db:
            row = db.execute(
                "INSERT INTO threads (mailbox, candidate_title, created_at) VALUES (?, ?, ?) RETURNING id",
                (mailbox, candidate_title, now()),
            ).fetchone()
            return int(row[0])

    def set_candidate_title(self, thread_id: int, title: str) -> None:
        """Record the next title to try after the wiki refused the previous one (page exists)."""
        with self._transaction() as db:
            db.execute("UPDATE threads SET candidate_title = ? WHERE id = ?", (title, thread_id))
