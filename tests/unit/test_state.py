"""SqliteStateStore on a temporary file: positions, intents, confirmations, failures, schema guard."""

from __future__ import annotations

import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.adapters.state.store import (
    SCHEMA_VERSION,
    Fingerprint,
    IntendedMessage,
    PendingMessage,
    SqliteStateStore,
)
from bridge.core.model import FolderPosition
from bridge.core.retry import RetryPolicy
from bridge.errors import StateError

POLICY = RetryPolicy()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "state.sqlite3"


@pytest.fixture
def store(db_path: Path) -> Iterator[SqliteStateStore]:
    opened = SqliteStateStore(db_path)
    yield opened
    opened.close()


def _intent(message_id: str, *linked: str, uid: int = 1) -> IntendedMessage:
    return IntendedMessage(message_id=message_id, linked_ids=linked, folder="INBOX", uid=uid)


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


def test_folder_position_round_trip(store: SqliteStateStore) -> None:
    """A saved position is read back, an update replaces it, other folders stay unknown."""
    assert store.folder_position("mb", "INBOX") is None
    store.save_folder_position("mb", "INBOX", FolderPosition(uidvalidity=100, last_uid=7))
    assert store.folder_position("mb", "INBOX") == FolderPosition(100, 7)
    store.save_folder_position("mb", "INBOX", FolderPosition(uidvalidity=101, last_uid=2))
    assert store.folder_position("mb", "INBOX") == FolderPosition(101, 2)
    assert store.folder_position("mb", "Archive") is None
    assert store.folder_position("other", "INBOX") is None


def test_intent_then_confirm(store: SqliteStateStore) -> None:
    """Recorded intents are pending until confirmed; then they are done, known and linked."""
    thread = store.new_thread("mb", "Sales/Mail/Angebot")
    store.record_intent("mb", thread, [_intent("a@x", uid=1), _intent("b@x", "a@x", "root@x", uid=2)])
    assert sorted(store.pending_messages("mb"), key=lambda p: p.message_id) == [
        PendingMessage("a@x", thread, "Sales/Mail/Angebot", False),
        PendingMessage("b@x", thread, "Sales/Mail/Angebot", False),
    ]
    assert store.known_message_ids("mb", ["a@x", "b@x", "c@x"]) == {"a@x", "b@x"}
    assert store.thread_page(thread) is None

    store.confirm("mb", thread, "Sales/Mail/Angebot", ["a@x", "b@x"], revision=42)
    assert store.pending_messages("mb") == []
    assert store.thread_page(thread) == "Sales/Mail/Angebot"
    assert store.known_message_ids("mb", ["a@x", "b@x", "c@x"]) == {"a@x", "b@x"}
    assert store.threads_for_ids("mb", ["a@x", "b@x", "root@x", "unknown@x"]) == {
        "a@x": thread,
        "b@x": thread,
        "root@x": thread,
    }


def test_pending_after_page_confirmed_reports_confirmed_title(store: SqliteStateStore) -> None:
    """A pending append to a thread whose page exists reports the confirmed title."""
    thread = store.new_thread("mb", "Sales/Mail/X")
    store.record_intent("mb", thread, [_intent("a@x")])
    store.confirm("mb", thread, "Sales/Mail/X (2)", ["a@x"], revision=1)
    store.record_intent("mb", thread, [_intent("b@x", "a@x", uid=2)])
    assert store.pending_messages("mb") == [PendingMessage("b@x", thread, "Sales/Mail/X (2)", True)]


def test_mailboxes_are_separate(store: SqliteStateStore) -> None:
    """Ids recorded for one mailbox are unknown to another."""
    thread = store.new_thread("mb", "T/a")
    store.record_intent("mb", thread, [_intent("a@x", "r@x")])
    assert store.known_message_ids("other", ["a@x"]) == set()
    assert store.threads_for_ids("other", ["a@x", "r@x"]) == {}
    assert store.pending_messages("other") == []


def test_lookups_handle_more_ids_than_one_chunk(store: SqliteStateStore) -> None:
    """Look-ups over more ids than SQLite's parameter limit still find every id."""
    thread = store.new_thread("mb", "T/many")
    ids = [f"m{i}@x" for i in range(1200)]
    store.record_intent("mb", thread, [_intent(i, uid=n) for n, i in enumerate(ids)])
    assert store.known_message_ids("mb", [*ids, "none@x"]) == set(ids)
    assert len(store.threads_for_ids("mb", ids)) == 1200


def test_discard_pending_removes_message_and_orphaned_thread(store: SqliteStateStore) -> None:
    """Discarding a thread's only pending message forgets the message, the thread and its links."""
    thread = store.new_thread("mb", "Sales/Mail/Lost")
    store.record_intent("mb", thread, [_intent("a@x", "root@x")])
    store.discard_pending("mb", ["a@x"])
    assert store.pending_messages("mb") == []
    assert store.known_message_ids("mb", ["a@x"]) == set()
    assert store.threads_for_ids("mb", ["a@x", "root@x"]) == {}
    assert store.title_taken("Sales/Mail/Lost") is False


def test_discard_pending_keeps_confirmed_messages_and_their_thread(store: SqliteStateStore) -> None:
    """Discarding a pending append leaves the thread's confirmed messages, page and links alone."""
    thread = store.new_thread("mb", "Sales/Mail/Kept")
    store.record_intent("mb", thread, [_intent("a@x")])
    store.confirm("mb", thread, "Sales/Mail/Kept", ["a@x"], revision=3)
    store.record_intent("mb", thread, [_intent("b@x", "a@x", uid=2)])
    store.discard_pending("mb", ["a@x", "b@x"])
    assert store.known_message_ids("mb", ["a@x", "b@x"]) == {"a@x"}
    assert store.thread_page(thread) == "Sales/Mail/Kept"
    assert store.threads_for_ids("mb", ["a@x"]) == {"a@x": thread}
    assert store.title_taken("Sales/Mail/Kept") is True


def test_title_taken_for_candidate_and_confirmed_titles(store: SqliteStateStore) -> None:
    """A title counts as taken while it is a candidate and after it is confirmed."""
    assert store.title_taken("Sales/Mail/A") is False
    thread = store.new_thread("mb", "Sales/Mail/A")
    assert store.title_taken("Sales/Mail/A") is True
    store.set_candidate_title(thread, "Sales/Mail/A (2)")
    assert store.title_taken("Sales/Mail/A") is False
    assert store.title_taken("Sales/Mail/A (2)") is True
    store.record_intent("mb", thread, [_intent("a@x")])
    store.confirm("mb", thread, "Sales/Mail/A (2)", ["a@x"], revision=1)
    assert store.title_taken("Sales/Mail/A (2)") is True


def test_new_threads_get_distinct_ids(store: SqliteStateStore) -> None:
    """Each new thread gets its own positive id."""
    first, second = store.new_thread("mb", "T/1"), store.new_thread("mb", "T/2")
    assert first > 0
    assert second > 0
    assert first != second


def test_record_failure_counts_attempts_and_clear_removes(store: SqliteStateStore) -> None:
    """Recording a failure twice counts two attempts with the latest reason; clearing forgets it."""
    store.record_failure("mb", "INBOX", 100, 7, None, "unparseable", POLICY)
    store.record_failure("mb", "INBOX", 100, 7, "a@x", "refused by the wiki", POLICY)
    (failure,) = store.failures("mb")
    assert failure.attempts == 2
    assert failure.reason == "refused by the wiki"
    assert failure.message_id == "a@x"
    assert (failure.folder, failure.uidvalidity, failure.uid) == ("INBOX", 100, 7)
    assert store.failures("mb", "Archive") == []
    assert store.failures("mb", "INBOX") == [failure]
    store.clear_failures("mb", [("INBOX", 100, 7)])
    assert store.failures("mb") == []


def test_failures_are_retried_later_and_parked_after_the_last_try(store: SqliteStateStore) -> None:
    """Each failure sets a later next try; the max_attempts-th parks the mail until retried by hand."""
    policy = RetryPolicy(max_attempts=2)
    assert store.record_failure("mb", "INBOX", 1, 5, "p@x", "broken", policy) == 1
    (first,) = store.failures("mb")
    assert not first.parked
    assert first.next_attempt_at is not None
    assert first.next_attempt_at > first.last_seen
    assert store.record_failure("mb", "INBOX", 1, 5, "p@x", "broken", policy) == 2
    (second,) = store.failures("mb")
    assert second.parked
    assert second.next_attempt_at is not None
    assert second.next_attempt_at > first.next_attempt_at
    assert store.mailbox_status("mb").parked == 1
    assert store.mailbox_status("mb").failed == 1
    assert store.retry_failures("mb", "other@x") == 0
    assert store.retry_failures("mb", "p@x") == 1
    (retried,) = store.failures("mb")
    assert not retried.parked
    assert retried.next_attempt_at is None
    assert retried.attempts == 2
    # A retry by hand that fails again parks the mail at once: the automatic tries are used up.
    store.record_failure("mb", "INBOX", 1, 5, "p@x", "broken", policy)
    assert store.failures("mb")[0].parked


def test_fingerprints_return_hash_and_size_of_published_mail(store: SqliteStateStore) -> None:
    """The content hash and raw size recorded with an intent are what `fingerprints` returns."""
    thread = store.new_thread("mb", "T/1")
    store.record_intent(
        "mb",
        thread,
        [
            IntendedMessage("a@x", (), "INBOX", 1, content_hash="abc", raw_size=120),
            IntendedMessage("b@x", (), "INBOX", 2),
        ],
    )
    prints = store.fingerprints("mb", ["a@x", "b@x", "c@x"])
    assert prints == {"a@x": Fingerprint("abc", 120), "b@x": Fingerprint(None, None)}


def test_failure_keeps_known_message_id(store: SqliteStateStore) -> None:
    """A later failure without id does not erase the id recorded earlier."""
    store.record_failure("mb", "INBOX", 1, 2, "a@x", "first", POLICY)
    store.record_failure("mb", "INBOX", 1, 2, None, "second", POLICY)
    assert store.failures("mb")[0].message_id == "a@x"


def test_record_pass_accepts_success_and_error(store: SqliteStateStore, db_path: Path) -> None:
    """A pass outcome is stored: the success time and the error sentence."""
    store.record_pass("mb", None)
    store.record_pass("mb", "the wiki is down")
    with sqlite3.connect(db_path) as db:
        row = db.execute("SELECT last_success, last_error FROM passes WHERE mailbox = 'mb'").fetchone()
    db.close()
    assert row[0] is not None
    assert row[1] == "the wiki is down"


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
