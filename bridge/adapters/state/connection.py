"""The state store's SQLite connection: opening the file, one transaction at a time, faults as sentences.

Every concern of the store (`ledger`, `thread_index`, `folders`, …) is a class over a
`sql.StateConnection`; `SqliteStateStore` combines them with this one. Their queries go through
`_query` and their writes through `_transaction`, so each protocol step is one transaction
(`BEGIN IMMEDIATE`: the whole file) and SQLite's full-disk, I/O and corruption errors reach the
caller as `StateError` sentences.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bridge.adapters.state.file import check_file, create_file, sqlite_fault
from bridge.adapters.state.schema import check_current, migrate
from bridge.adapters.state.sql import SQLITE, StateConnection, Transaction
from bridge.errors import StateError


def _read_only_uri(path: Path) -> str:
    """The URI that opens `path` for reading only.

    Without a write-ahead log (no writer, everything checkpointed) the file is all there is: it
    is read as immutable, and SQLite creates no `-wal` and `-shm` files next to it either.
    """
    wal = path.with_name(path.name + "-wal").exists()
    return f"{path.resolve().as_uri()}?{'mode=ro' if wal else 'immutable=1'}"


class SqliteConnection(StateConnection):
    """One SQLite file, opened (created with mode 0600 when missing) and brought to the current schema."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        """Open (or create) the store at `path`; `read_only` opens it for a dry run, which writes nothing.

        Read-only, a missing file reads as an empty store (held in memory), and any write fails.
        """
        self.path = path
        self.dialect = SQLITE
        try:
            # A missing file is created; a damaged one is reported, never silently recreated.
            exists = check_file(path)
            if read_only:
                self._db = sqlite3.connect(
                    _read_only_uri(path) if exists else ":memory:",
                    uri=True,
                    isolation_level=None,
                    check_same_thread=False,
                )
            else:
                if not exists:
                    create_file(path)
                self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        except OSError as exc:
            raise StateError(f"cannot create the state store {path}: {exc.strerror or exc}") from exc
        except sqlite3.Error as exc:
            raise sqlite_fault(path, exc) or StateError(f"cannot open the state store {path}: {exc}") from exc
        # Scheduler jobs of several mailboxes share this connection; one statement group at a time.
        self._lock = threading.RLock()
        try:
            if read_only and exists:
                check_current(self._db, SQLITE, str(path))
            else:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA foreign_keys=ON")
                with self._transaction() as db:
                    migrate(db, SQLITE, str(path))
            if read_only:
                self._db.execute("PRAGMA query_only=ON")
        except StateError:
            self._db.close()
            raise
        except sqlite3.Error as exc:
            self._db.close()
            raise sqlite_fault(path, exc) or StateError(f"cannot open the state store {path}: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[Transaction]:
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
