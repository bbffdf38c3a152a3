"""The state store opened read-only, as a dry run opens it: it reads, and it leaves no trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.adapters.state.store import SqliteStateStore
from bridge.core.model import FolderPosition
from bridge.errors import StateError


def test_a_missing_store_reads_as_empty_and_is_not_created(tmp_path: Path) -> None:
    """No file: the dry run plans from an empty store, and no file appears."""
    store = SqliteStateStore(tmp_path / "state.sqlite3", read_only=True)
    try:
        assert store.folder_position("team", "INBOX") is None
    finally:
        store.close()
    assert list(tmp_path.iterdir()) == []


def test_a_store_is_read_but_never_written(tmp_path: Path) -> None:
    """What the store holds is read; a write fails; the file and its directory stay as they were."""
    path = tmp_path / "state.sqlite3"
    writer = SqliteStateStore(path)
    writer.save_folder_position("team", "INBOX", FolderPosition(7, 42))
    writer.close()
    before = path.read_bytes()

    store = SqliteStateStore(path, read_only=True)
    try:
        assert store.folder_position("team", "INBOX") == FolderPosition(7, 42)
        with pytest.raises(StateError, match="readonly"):
            store.save_folder_position("team", "INBOX", FolderPosition(7, 43))
    finally:
        store.close()

    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.sqlite3"]
