"""SqliteStateStore on a temporary file: file modes, schema version and its guard, CHECK lists.

What every backend must do (ledger, threads, positions, failures, …) is the store contract in
tests/contract/; this module keeps what is SQLite's own.
"""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing
from enum import StrEnum
from pathlib import Path

import pytest

from bridge.adapters.state.statuses import (
    MailAction,
    MergeNote,
    MessageStatus,
    PartLink,
    QuarantineStatus,
    ReplyKind,
    ReplyStatus,
    sql_list,
)
from bridge.adapters.state.store import SCHEMA_VERSION, SqliteStateStore
from bridge.core.model import FolderPosition
from bridge.errors import StateError


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "state.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteStateStore]:
    opened = SqliteStateStore(db_path)
    yield opened
    opened.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_file_is_created_private(store: SqliteStateStore, db_path: Path) -> None:
    """The database file (and its directory path) is created, readable by the owner only."""
    assert db_path.is_file()
    assert _mode(db_path) == 0o600


def test_wal_file_is_private_too(store: SqliteStateStore, db_path: Path) -> None:
    """After a write, SQLite's side files are no more readable than the database itself."""
    store.save_folder_position("mb", "INBOX", FolderPosition(1, 1))
    side_files = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name + "-")]
    assert side_files
    for path in side_files:
        assert _mode(path) & 0o077 == 0, path


def test_schema_version_is_stored(store: SqliteStateStore, db_path: Path) -> None:
    """The meta table records the schema version this bridge expects."""
    with sqlite3.connect(db_path) as db:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    db.close()
    assert row == (str(SCHEMA_VERSION),)


def test_reopening_keeps_data(db_path: Path) -> None:
    """Closing and reopening the store keeps what was written."""
    first = SqliteStateStore(db_path)
    first.save_folder_position("mb", "INBOX", FolderPosition(uidvalidity=5, last_uid=9))
    first.close()
    second = SqliteStateStore(db_path)
    try:
        assert second.folder_position("mb", "INBOX") == FolderPosition(5, 9)
    finally:
        second.close()


def test_wrong_schema_version_is_refused(db_path: Path) -> None:
    """Reopening a store whose schema_version was changed to 99 raises StateError naming both versions."""
    SqliteStateStore(db_path).close()
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    db.close()
    with pytest.raises(StateError) as info:
        SqliteStateStore(db_path)
    assert "99" in str(info.value)
    assert str(SCHEMA_VERSION) in str(info.value)


@pytest.mark.parametrize(
    ("table", "column", "values"),
    [
        ("messages", "status", MessageStatus),
        ("messages", "mail_action", MailAction),
        ("threads", "merge_note", MergeNote),
        ("thread_parts", "link", PartLink),
        ("replies", "kind", ReplyKind),
        ("replies", "status", ReplyStatus),
        ("quarantine", "status", QuarantineStatus),
    ],
)
def test_check_lists_allow_exactly_the_enum_values(
    store: SqliteStateStore, db_path: Path, table: str, column: str, values: type[StrEnum]
) -> None:
    """Each status column's CHECK list is its enum, written as earlier versions wrote it."""
    with closing(sqlite3.connect(db_path)) as db:
        (sql,) = db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
    assert f"CHECK ({column} IN {sql_list(values)})" in sql
    assert sql_list(MessageStatus) == "('pending', 'done')"
    assert sql_list(ReplyStatus) == "('intended', 'sending', 'sent', 'suppressed', 'uncertain', 'refused')"
