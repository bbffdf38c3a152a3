"""Mailbox leases in the state store: which instance works which mailbox, until when, under which token.

Several instances share one store (PostgreSQL); each mailbox is worked by one of them at a time.
A lease row per mailbox names its holder (an instance id), when it was taken and when it expires;
its fencing token grows by one at every change of holder and never goes back. Times are the
database's clock, so the hosts' clocks do not matter. An instance refreshes its heartbeat row
each lease period; the live ones share the mailboxes out among themselves.

A pass runs `fenced` by its lease: every transaction of the pass first extends the lease, in
the same transaction and only while the row still names this holder and token and has not
expired. A holder that lost its lease (paused, cut off, taken over) gets `LeaseLostError` from
its next write and writes nothing more: no confirmation, no intent, no reply leaving `intended`.
With SQLite, the same code runs with one local holder.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from bridge.adapters.state.sql import StateConnection, Transaction
from bridge.errors import LeaseLostError

_PRUNE_SECONDS = 86400
"""Heartbeat rows of instances gone this long are deleted (each start may bring a new id)."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A mailbox held by an instance: its fencing token, since when and until when (Unix seconds).

    `seconds` is the lease period: each renewal, and each fenced write, extends it that far.
    """

    mailbox: str
    holder: str
    token: int
    since: float
    expires_at: float
    seconds: float


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """A mailbox's lease as `status` shows it: the holder (None: free) and whether it is still valid."""

    mailbox: str
    holder: str | None
    token: int
    since: float | None
    expires_at: float
    valid: bool


_CLOCKS = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "CAST(EXTRACT(EPOCH FROM now()) AS DOUBLE PRECISION)",
}
# The lease each store fences the current pass's writes by (by the store's id): a context
# variable, so the edit lanes a pass starts (`sync.lanes`, run in a copy of its context) are
# fenced too, while the other mailboxes' passes on other scheduler threads are not.
_FENCES: ContextVar[Mapping[int, Lease] | None] = ContextVar("lease_fences", default=None)


class LeaseTables(StateConnection):
    """Leases, heartbeats and the fence on a pass's writes (part of the state store)."""

    @property
    def _clock(self) -> str:
        """The database's current time in Unix seconds, as SQL (PostgreSQL: the transaction's start)."""
        return _CLOCKS[self.dialect.name]

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        # Every concern's writes pass here: a fenced thread's transaction first holds its lease.
        with super()._transaction() as db:
            lease = (_FENCES.get() or {}).get(id(self))
            if lease is not None:
                self._hold(db, lease)
            yield db

    def _hold(self, db: Transaction, lease: Lease) -> None:
        """Extend `lease` inside the current transaction, or raise `LeaseLostError` when it is lost."""
        cursor = db.execute(
            f"UPDATE leases SET expires_at = {self._clock} + ? "  # noqa: S608 - constant SQL
            f"WHERE mailbox = ? AND holder = ? AND token = ? AND expires_at > {self._clock}",
            (lease.seconds, lease.mailbox, lease.holder, lease.token),
        )
        if cursor.rowcount != 1:
            raise LeaseLostError(
                f"this instance ({lease.holder}) no longer holds the lease of mailbox {lease.mailbox} "
                f"(token {lease.token}); it stops working on it"
            )

    @contextmanager
    def fenced(self, lease: Lease) -> Iterator[None]:
        """Run the block's writes (in this context) only while `lease` is held, extending it each time."""
        token = _FENCES.set({**(_FENCES.get() or {}), id(self): lease})
        try:
            yield
        finally:
            _FENCES.reset(token)

    def acquire_lease(self, mailbox: str, holder: str, seconds: float) -> Lease | None:
        """Take the mailbox's lease for `seconds` when it is free, expired or already `holder`'s.

        The token grows by one, so writes fenced by an earlier holder's token are refused. Returns
        None while another holder's lease is valid.
        """
        with self._transaction() as db:
            row = db.execute(
                "INSERT INTO leases (mailbox, holder, token, since, expires_at) "  # noqa: S608 - constant SQL
                f"VALUES (?, ?, 1, {self._clock}, {self._clock} + ?) "
                "ON CONFLICT (mailbox) DO UPDATE SET holder = excluded.holder, token = leases.token + 1, "
                "since = excluded.since, expires_at = excluded.expires_at "
                "WHERE leases.holder IS NULL OR leases.holder = excluded.holder "
                f"OR leases.expires_at <= {self._clock} "
                "RETURNING token, since, expires_at",
                (mailbox, holder, seconds),
            ).fetchone()
        if row is None:
            return None
        return Lease(mailbox, holder, int(row[0]), float(row[1]), float(row[2]), seconds)

    def renew_lease(self, lease: Lease) -> Lease | None:
        """Extend a held lease by its period from now; None when another holder took it meanwhile.

        An expired lease nobody took is still this holder's: its token is unchanged, so nothing
        was written by anyone else since.
        """
        with self._transaction() as db:
            row = db.execute(
                f"UPDATE leases SET expires_at = {self._clock} + ? "  # noqa: S608 - constant SQL
                "WHERE mailbox = ? AND holder = ? AND token = ? RETURNING expires_at",
                (lease.seconds, lease.mailbox, lease.holder, lease.token),
            ).fetchone()
        if row is None:
            return None
        return dataclasses.replace(lease, expires_at=float(row[0]))

    def release_lease(self, lease: Lease) -> None:
        """Give a held lease up (clean stop, fair share): another instance may take it at once."""
        with self._transaction() as db:
            db.execute(
                "UPDATE leases SET holder = NULL, since = NULL, expires_at = 0 "
                "WHERE mailbox = ? AND holder = ? AND token = ?",
                (lease.mailbox, lease.holder, lease.token),
            )

    def heartbeat(self, instance: str, seconds: float) -> int:
        """Say `instance` is alive for `seconds` more; return how many instances are alive now."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO instances (instance, started, seen_until) "  # noqa: S608 - constant SQL
                f"VALUES (?, {self._clock}, {self._clock} + ?) "
                "ON CONFLICT (instance) DO UPDATE SET seen_until = excluded.seen_until",
                (instance, seconds),
            )
            db.execute(
                f"DELETE FROM instances WHERE seen_until < {self._clock} - ?",  # noqa: S608 - constant SQL
                (_PRUNE_SECONDS,),
            )
            row = db.execute(
                f"SELECT COUNT(*) FROM instances WHERE seen_until > {self._clock}"  # noqa: S608 - constant SQL
            ).fetchone()
        return int(row[0])

    def leave(self, instance: str) -> None:
        """Remove the instance's heartbeat (clean stop): the others take their share at once."""
        with self._transaction() as db:
            db.execute("DELETE FROM instances WHERE instance = ?", (instance,))

    def leases(self) -> list[LeaseRow]:
        """Every mailbox's lease row, by mailbox: holder, token, since, expiry, still valid."""
        rows = self._query(
            "SELECT mailbox, holder, token, since, expires_at, "  # noqa: S608 - constant SQL
            f"holder IS NOT NULL AND expires_at > {self._clock} FROM leases ORDER BY mailbox"
        )
        return [
            LeaseRow(
                mailbox=str(r[0]),
                holder=None if r[1] is None else str(r[1]),
                token=int(str(r[2])),
                since=None if r[3] is None else float(str(r[3])),
                expires_at=float(str(r[4])),
                valid=bool(r[5]),
            )
            for r in rows
        ]
