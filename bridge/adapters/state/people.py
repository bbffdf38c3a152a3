"""People in the state store: wiki accounts, each conversation's participants, reply counts.

`wiki_accounts` caches the wiki's answer about a user name (exists or not) with the time it
was asked, so a pass asks the wiki only about names it has not asked about within the expiry.
`thread_people` lists the people of a conversation (keyed by its first part) for the page's
participants note. `reply_counts` gives `status` how many replies went out and why others did not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bridge.adapters.state.sql import StateConnection, chunks, now, placeholders
from bridge.adapters.state.statuses import ReplyStatus
from bridge.core.people import EXTERNAL_SENDER, Person


@dataclass(frozen=True, slots=True)
class ReplyCounts:
    """Replies of a mailbox: sent, suppressed (by any rule), and suppressed as the sender is external."""

    sent: int = 0
    suppressed: int = 0
    external: int = 0


class AccountCache(Protocol):
    """The wiki's answers about user names, remembered with the time they were given."""

    def known_accounts(self, names: Iterable[str], since: datetime) -> dict[str, bool]: ...
    def record_accounts(self, found: Mapping[str, bool]) -> None: ...


class ThreadPeople(Protocol):
    """The people of each conversation (its first part's thread id)."""

    def thread_people(self, thread_id: int) -> list[Person]: ...
    def add_thread_people(self, thread_id: int, people: Sequence[Person]) -> int: ...


class PeopleLedger(AccountCache, ThreadPeople, Protocol):
    """What linking people and the participants note use."""


class ReplyCounter(Protocol):
    """What `status` reads about replies."""

    def reply_counts(self, mailbox: str) -> ReplyCounts: ...


class PeopleTables(StateConnection):
    """The `wiki_accounts` and `thread_people` rows, and reply counts (part of every state store)."""

    def known_accounts(self, names: Iterable[str], since: datetime) -> dict[str, bool]:
        """The cached answers about `names` given at or after `since` (older ones count as unknown)."""
        found: dict[str, bool] = {}
        cutoff = since.isoformat(timespec="seconds")
        for chunk in chunks(names):
            rows = self._query(
                f"SELECT name, present FROM wiki_accounts WHERE name IN ({placeholders(chunk)}) "  # noqa: S608 - placeholders only
                "AND checked_at >= ?",
                (*chunk, cutoff),
            )
            found.update({str(name): bool(present) for name, present in rows})
        return found

    def record_accounts(self, found: Mapping[str, bool]) -> None:
        """Remember the wiki's answers (exists or not) as of now."""
        checked = now()
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO wiki_accounts (name, present, checked_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET present = excluded.present, "
                "checked_at = excluded.checked_at",
                [(name, int(present), checked) for name, present in found.items()],
            )

    def thread_people(self, thread_id: int) -> list[Person]:
        """The people of a conversation, in the order they first took part."""
        rows = self._query(
            "SELECT name, address, inside FROM thread_people WHERE thread_id = ? ORDER BY position",
            (thread_id,),
        )
        return [Person(str(name), str(address), bool(inside)) for name, address, inside in rows]

    def add_thread_people(self, thread_id: int, people: Sequence[Person]) -> int:
        """Add the people a conversation did not have yet; return how many were new."""
        with self._transaction() as db:
            (count,) = db.execute(
                "SELECT COUNT(*) FROM thread_people WHERE thread_id = ?", (thread_id,)
            ).fetchone()
            added = 0
            for person in people:
                cursor = db.execute(
                    "INSERT INTO thread_people (thread_id, address, name, inside, position) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (thread_id, address) DO NOTHING",
                    (thread_id, person.address, person.name, int(person.inside), int(count) + added),
                )
                added += cursor.rowcount
            return added

    def reply_counts(self, mailbox: str) -> ReplyCounts:
        """How many replies of `mailbox` were sent, suppressed, and suppressed for an external sender."""
        [(sent, suppressed, external)] = self._query(
            "SELECT COUNT(CASE WHEN status = ? THEN 1 END), COUNT(CASE WHEN status = ? THEN 1 END), "
            "COUNT(CASE WHEN status = ? AND reason = ? THEN 1 END) FROM replies WHERE mailbox = ?",
            (ReplyStatus.SENT, ReplyStatus.SUPPRESSED, ReplyStatus.SUPPRESSED, EXTERNAL_SENDER, mailbox),
        )
        return ReplyCounts(int(str(sent)), int(str(suppressed)), int(str(external)))
