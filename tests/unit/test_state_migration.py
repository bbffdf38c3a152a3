"""State store upgrades and thread merging."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from bridge.adapters.state.store import SCHEMA_VERSION, IntendedMessage, SqliteStateStore

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


def _thread(store: SqliteStateStore, title: str, message_id: str) -> int:
    thread = store.new_thread("sales", title)
    store.record_intent("sales", thread, [IntendedMessage(message_id, (), "INBOX", 1)])
    store.confirm("sales", thread, title, [message_id], 1)
    return thread


def test_merged_thread_resolves_to_the_older_one(tmp_path: Path) -> None:
    """After a merge, ids of the newer thread resolve to the older thread; the note is pending once."""
    store = SqliteStateStore(tmp_path / "state.sqlite3")
    older = _thread(store, "S/Old", "old@ex.org")
    newer = _thread(store, "S/New", "new@ex.org")
    store.mark_merged(newer, into=older)
    assert store.threads_for_ids("sales", ["new@ex.org", "old@ex.org"]) == {
        "new@ex.org": older,
        "old@ex.org": older,
    }
    [note] = store.pending_merge_notes("sales")
    assert (note.thread_id, note.page_title, note.into_title) == (newer, "S/New", "S/Old")
    store.merge_note_done(newer)
    assert store.pending_merge_notes("sales") == []
    store.close()


def test_subject_index_keeps_the_latest_activity(tmp_path: Path) -> None:
    """The subject index points at the thread with the newest mail for a key."""
    store = SqliteStateStore(tmp_path / "state.sqlite3")
    first = _thread(store, "S/B", "b1@ex.org")
    second = _thread(store, "S/B (2)", "b2@ex.org")
    store.record_subject("sales", "budget", second, datetime(2026, 11, 5, tzinfo=UTC))
    store.record_subject("sales", "budget", first, datetime(2026, 11, 1, tzinfo=UTC))
    known = store.known_subjects("sales", ["budget", "other"])
    assert list(known) == ["budget"]
    assert known["budget"].thread_id == second
    assert known["budget"].last_date == datetime(2026, 11, 5, tzinfo=UTC)
    store.close()


def test_titles_taken_finds_every_sibling_in_one_query(tmp_path: Path) -> None:
    """All `base (n)` titles in use come back, but not titles that merely start with the same words."""
    store = SqliteStateStore(tmp_path / "state.sqlite3")
    base = "S/Wochenbericht"
    for n in range(1, 151):
        title = base if n == 1 else f"{base} ({n})"
        _thread(store, title, f"w{n}@ex.org")
    store.new_thread("sales", f"{base} (151)")  # a candidate not yet confirmed counts too
    _thread(store, f"{base} 2027", "other@ex.org")
    taken = store.titles_taken(base)
    assert len(taken) == 151
    assert f"{base} (151)" in taken and f"{base} 2027" not in taken
    store.close()


def test_pending_mail_actions_follow_their_mail_after_a_renumbering(tmp_path: Path) -> None:
    """Pending flags/moves are detached from stale UIDs and re-attached to the mail's new UID."""
    store = SqliteStateStore(tmp_path / "state.sqlite3")
    thread = store.new_thread("sales", "S/Flag")
    store.record_intent("sales", thread, [IntendedMessage("f@ex.org", (), "INBOX", 7)])
    store.confirm("sales", thread, "S/Flag", ["f@ex.org"], 1, mail_action=True)
    assert store.pending_mail_actions("sales", "INBOX") == [7]
    assert store.unhook_mail_actions("sales", "INBOX") == 1
    assert store.pending_mail_actions("sales", "INBOX") == []  # UID 7 may be another mail now
    store.relocate_mail_actions("sales", "INBOX", {"f@ex.org": 3, "other@ex.org": 4})
    assert store.pending_mail_actions("sales", "INBOX") == [3]
    store.mail_actions_done("sales", "INBOX", [3])
    assert store.pending_mail_actions("sales", "INBOX") == []
    store.close()
