"""The state store's SQLite connection: opening the file, one transaction at a time, faults as sentences.

Every concern of the store (`ledger`, `thread_index`, `folders`, …) is a class over this one
connection, and `SqliteStateStore` combines them; their queries go through `_query` and their
writes through `_transaction`, so each protocol step is one transaction and SQLite's full-disk,
I/O and corruption errors reach the caller as `StateError` sentences.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bridge.adapters.state.file import check_file, create_file, sqlite_fault
from bridge.adapters.state.schema import migrate
from bridge.errors import StateError

_CHUNK = 500  # stays well below SQLite's bound-parameter limit


def now() -> str:
    """The store's timestamp: ISO 8601 UTC to the second, so timestamps compare as strings."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def chunks(items: Iterable[str]) -> Iterator[tuple[str, ...]]:
    """Split the distinct `items` (sorted) into chunks that fit one statement's parameters."""
    distinct = sorted(set(items))
    for start in range(0, len(distinct), _CHUNK):
        yield tuple(distinct[start : start + _CHUNK])


def placeholders(chunk: Sequence[object]) -> str:
    """Return `?, ?, …` for an `IN (…)` list of `chunk`'s length."""
    return ",".join("?" * len(chunk))


class SqliteConnection:
    """One SQLite file, opened (created with mode 0600 when missing) and brought to the current schema."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # A missing file is created; a damaged one is reported, never silently recreated.
            if not check_file(path):
                create_file(path)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        except OSError as exc:
            raise StateError(f"cannot create the state store {path}: {exc.strerror or exc}") from exc
        except sqlite3.Error as exc:
            raise sqlite_fault(path, exc) or StateError(f"cannot open the state store {path}: {exc}") from exc
        # Scheduler jobs of several mailboxes share this connection; one statement group at a time.
        self._lock = threading.RLock()
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            with self._lock:
                migrate(self._db, path)
        except StateError:
            self._db.close()
            raise
        except sqlite3.Error as exc:
            self._db.close()
            raise sqlite_fault(path, exc) or StateError(f"cannot open the state store {path}: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._faults():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # A full disk may have ended the transaction already (SQLite rolls back itself).
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        with self._lock, self._faults():
            return list(self._db.execute(sql, params).fetchall())

    @contextmanager
    def _faults(self) -> Iterator[None]:
        """Turn a full disk, a damaged file or an I/O error into a `StateError` that says so."""
        try:
            yield
        except sqlite3.Error as exc:
            error = sqlite_fault(self.path, exc)
            if error is None:
                raise
            raise error from exc

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._db.close()
