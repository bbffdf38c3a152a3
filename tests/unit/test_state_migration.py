"""State store upgrades: a store written by an earlier schema version opens and is upgraded in place.

Thread merging, the subject index, sibling titles and mail actions are contract tests now
(tests/contract/test_state_contract.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bridge.adapters.state.store import SCHEMA_VERSION, SqliteStateStore

_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
CREATE TABLE threads (id INTEGER PRIMARY KEY AUTOINCREMENT, mailbox TEXT NOT NULL, page_title TEXT,
    candidate_title TEXT NOT NULL, created_at TEXT NOT NULL);
INSERT INTO threads (mailbox, page_title, candidate_title, created_at) VALUES ('sales', 'S/A', 'S/A', 'x');
CREATE TABLE messages (mailbox TEXT NOT NULL, message_id TEXT NOT NULL, thread_id INTEGER NOT NULL,
    status TEXT NOT NULL, folder TEXT NOT NULL, uid INTEGER NOT NULL, revision INTEGER, published_at TEXT,
    PRIMARY KEY (mailbox, message_id));
CREATE TABLE passes (mailbox TEXT PRIMARY KEY, last_success TEXT, last_error TEXT, last_error_at TEXT);
"""


def test_version_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    """A store written by schema version 1 gains the merge columns and keeps its threads."""
    path = tmp_path / "state.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(_V1)
    store = SqliteStateStore(path)
    assert store.thread_page(1) == "S/A"
    store.mark_merged(1, into=1)
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            str(SCHEMA_VERSION),
        )
        assert db.execute("SELECT merge_note FROM threads WHERE id = 1").fetchone() == ("pending",)
