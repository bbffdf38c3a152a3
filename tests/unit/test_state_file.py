"""The state file itself: damaged files are reported and left alone, never silently recreated.

The ledger methods that `state rebuild` and the lost-state guard use are held to the store
contract in tests/contract/test_state_contract_replies.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bridge.adapters.state.file import check_file
from bridge.adapters.state.store import IntendedMessage, SqliteStateStore
from bridge.errors import StateError


def _filled_store(path: Path, messages: int = 300) -> None:
    """A real state file with enough rows to span many database pages."""
    store = SqliteStateStore(path)
    try:
        thread = store.new_thread("sales", "Sales/Mail/Hello")
        store.record_intent(
            "sales",
            thread,
            [IntendedMessage(f"m{i}-{'x' * 40}@example.de", (), "INBOX", i) for i in range(messages)],
        )
    finally:
        store.close()


def _open_refused(path: Path, match: str) -> None:
    before = path.read_bytes()
    with pytest.raises(StateError, match=match) as refused:
        SqliteStateStore(path)
    assert str(path) in str(refused.value)
    assert "state rebuild" in str(refused.value)
    assert path.read_bytes() == before, "a damaged state file must be left as it is"


def test_missing_file_is_created_whole(tmp_path: Path) -> None:
    """A missing state file is created, already a valid database, with no side file left."""
    path = tmp_path / "new" / "state.sqlite3"
    SqliteStateStore(path).close()
    assert check_file(path)
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def test_empty_file_is_reported_not_recreated(tmp_path: Path) -> None:
    """A state file truncated to 0 bytes is damaged state, not a new store."""
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"")
    _open_refused(path, r"empty \(0 bytes\)")


def test_garbled_file_is_reported(tmp_path: Path) -> None:
    """A file that is not an SQLite database is reported as such."""
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"this is not a database\n" * 100)
    _open_refused(path, "not an SQLite database")


def test_file_cut_short_is_reported(tmp_path: Path) -> None:
    """A database file cut in half (a partial copy, a full disk during a copy) is reported."""
    path = tmp_path / "state.sqlite3"
    _filled_store(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _open_refused(path, "cut short")


def test_damaged_pages_are_a_state_error_not_a_traceback(tmp_path: Path) -> None:
    """Garbage in the middle of the file surfaces as a StateError that says damaged, when it is read."""
    path = tmp_path / "state.sqlite3"
    _filled_store(path)
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    data[page_size:] = b"\xff" * (len(data) - page_size)  # every page but the first (the schema)
    path.write_bytes(bytes(data))
    with pytest.raises(StateError, match="damaged") as refused:
        store = SqliteStateStore(path)
        try:
            store.known_message_ids("sales", ["m1@example.de"])
            store.pending_messages("sales")
        finally:
            store.close()
    assert "restore it from a backup" in str(refused.value)


def test_state_path_that_is_a_directory_is_reported(tmp_path: Path) -> None:
    """A directory where the state file should be gives a sentence, not IsADirectoryError."""
    path = tmp_path / "state.sqlite3"
    path.mkdir()
    with pytest.raises(StateError, match="is a directory"):
        SqliteStateStore(path)


def test_store_written_by_sqlite_elsewhere_is_accepted(tmp_path: Path) -> None:
    """A valid database copied in by an admin (a restored backup) opens normally."""
    source, target = tmp_path / "a.sqlite3", tmp_path / "b.sqlite3"
    _filled_store(source, 5)
    with sqlite3.connect(source) as original, sqlite3.connect(target) as copy:
        original.backup(copy)
    original.close()
    copy.close()
    store = SqliteStateStore(target)
    try:
        assert len(store.pending_messages("sales")) == 5
    finally:
        store.close()
