"""The state store contract: the ledger, thread index, folder positions, mail actions, failures,
passes and quarantine semantics the bridge relies on, for every backend in `BACKENDS`.

Replies, drafts, continuation parts and the lost-state ledger are in test_state_contract_replies.py.
SQLite-only behaviour (file mode, damaged files, schema upgrades) stays in tests/unit.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from bridge.adapters.state.ports import StateStore
from bridge.adapters.state.statuses import QuarantineStatus
from bridge.adapters.state.store import Fingerprint, IntendedMessage, PendingMessage, QuarantinedMail
from bridge.core.model import FolderPosition
from bridge.core.retry import RetryPolicy
from tests.contract.state_backends import intent, published, store

__all__ = ["store"]  # the parametrized fixture, used by every test here

POLICY = RetryPolicy()

# -- exactly-once ledger ----------------------------------------------------------------------


def test_intent_then_confirm(store: StateStore) -> None:
    """Recorded intents are pending until confirmed; then they are done, known and linked."""
    thread = store.new_thread("mb", "Sales/Mail/Angebot")
    store.record_intent("mb", thread, [intent("a@x", uid=1), intent("b@x", "a@x", "root@x", uid=2)])
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


def test_pending_after_page_confirmed_reports_confirmed_title(store: StateStore) -> None:
    """A pending append to a thread whose page exists reports the confirmed title."""
    thread = store.new_thread("mb", "Sales/Mail/X")
    store.record_intent("mb", thread, [intent("a@x")])
    store.confirm("mb", thread, "Sales/Mail/X (2)", ["a@x"], revision=1)
    store.record_intent("mb", thread, [intent("b@x", "a@x", uid=2)])
    assert store.pending_messages("mb") == [PendingMessage("b@x", thread, "Sales/Mail/X (2)", True)]


def test_mailboxes_are_separate(store: StateStore) -> None:
    """Ids recorded for one mailbox are unknown to another."""
    thread = store.new_thread("mb", "T/a")
    store.record_intent("mb", thread, [intent("a@x", "r@x")])
    assert store.known_message_ids("other", ["a@x"]) == set()
    assert store.threads_for_ids("other", ["a@x", "r@x"]) == {}
    assert store.pending_messages("other") == []


def test_lookups_handle_more_ids_than_one_chunk(store: StateStore) -> None:
    """Look-ups over more ids than one statement's parameter limit still find every id."""
    thread = store.new_thread("mb", "T/many")
    ids = [f"m{i}@x" for i in range(1200)]
    store.record_intent("mb", thread, [intent(i, uid=n) for n, i in enumerate(ids)])
    assert store.known_message_ids("mb", [*ids, "none@x"]) == set(ids)
    assert len(store.threads_for_ids("mb", ids)) == 1200
    assert store.known_anywhere(ids) == set(ids)


def test_discard_pending_removes_message_and_orphaned_thread(store: StateStore) -> None:
    """Discarding a thread's only pending message forgets the message, the thread and its links."""
    thread = store.new_thread("mb", "Sales/Mail/Lost")
    store.record_intent("mb", thread, [intent("a@x", "root@x")])
    store.discard_pending("mb", ["a@x"])
    assert store.pending_messages("mb") == []
    assert store.known_message_ids("mb", ["a@x"]) == set()
    assert store.threads_for_ids("mb", ["a@x", "root@x"]) == {}
    assert store.title_taken("Sales/Mail/Lost") is False


def test_discard_pending_keeps_confirmed_messages_and_their_thread(store: StateStore) -> None:
    """Discarding a pending append leaves the thread's confirmed messages, page and links alone."""
    thread = store.new_thread("mb", "Sales/Mail/Kept")
    store.record_intent("mb", thread, [intent("a@x")])
    store.confirm("mb", thread, "Sales/Mail/Kept", ["a@x"], revision=3)
    store.record_intent("mb", thread, [intent("b@x", "a@x", uid=2)])
    store.discard_pending("mb", ["a@x", "b@x"])
    assert store.known_message_ids("mb", ["a@x", "b@x"]) == {"a@x"}
    assert store.thread_page(thread) == "Sales/Mail/Kept"
    assert store.threads_for_ids("mb", ["a@x"]) == {"a@x": thread}
    assert store.title_taken("Sales/Mail/Kept") is True


def test_fingerprints_return_hash_and_size_of_published_mail(store: StateStore) -> None:
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


# -- thread index: titles, merges, subjects --------------------------------------------------


def test_title_taken_for_candidate_and_confirmed_titles(store: StateStore) -> None:
    """A title counts as taken while it is a candidate and after it is confirmed."""
    assert store.title_taken("Sales/Mail/A") is False
    thread = store.new_thread("mb", "Sales/Mail/A")
    assert store.title_taken("Sales/Mail/A") is True
    store.set_candidate_title(thread, "Sales/Mail/A (2)")
    assert store.title_taken("Sales/Mail/A") is False
    assert store.title_taken("Sales/Mail/A (2)") is True
    store.record_intent("mb", thread, [intent("a@x")])
    store.confirm("mb", thread, "Sales/Mail/A (2)", ["a@x"], revision=1)
    assert store.title_taken("Sales/Mail/A (2)") is True


def test_new_threads_get_distinct_ids(store: StateStore) -> None:
    """Each new thread gets its own positive id."""
    first, second = store.new_thread("mb", "T/1"), store.new_thread("mb", "T/2")
    assert first > 0
    assert second > 0
    assert first != second


def test_titles_taken_finds_every_sibling(store: StateStore) -> None:
    """All `base (n)` titles in use come back, but not titles that merely start with the same words."""
    base = "S/Wochenbericht"
    for n in range(1, 151):
        published(store, "sales", base if n == 1 else f"{base} ({n})", f"w{n}@ex.org")
    store.new_thread("sales", f"{base} (151)")  # a candidate not yet confirmed counts too
    published(store, "sales", f"{base} 2027", "other@ex.org")
    taken = store.titles_taken(base)
    assert len(taken) == 151
    assert f"{base} (151)" in taken and f"{base} 2027" not in taken


def test_merged_thread_resolves_to_the_older_one(store: StateStore) -> None:
    """After a merge, ids of the newer thread resolve to the older thread; the note is pending once."""
    older = published(store, "sales", "S/Old", "old@ex.org")
    newer = published(store, "sales", "S/New", "new@ex.org")
    assert store.merge_target(newer) == newer
    store.mark_merged(newer, into=older)
    assert store.merge_target(newer) == older
    assert store.threads_for_ids("sales", ["new@ex.org", "old@ex.org"]) == {
        "new@ex.org": older,
        "old@ex.org": older,
    }
    [note] = store.pending_merge_notes("sales")
    assert (note.thread_id, note.page_title, note.into_title) == (newer, "S/New", "S/Old")
    store.merge_note_done(newer)
    assert store.pending_merge_notes("sales") == []


def test_subject_index_keeps_the_latest_activity(store: StateStore) -> None:
    """The subject index points at the thread with the newest mail for a key."""
    first = published(store, "sales", "S/B", "b1@ex.org")
    second = published(store, "sales", "S/B (2)", "b2@ex.org")
    store.record_subject("sales", "budget", second, datetime(2026, 11, 5, tzinfo=UTC))
    store.record_subject("sales", "budget", first, datetime(2026, 11, 1, tzinfo=UTC))
    known = store.known_subjects("sales", ["budget", "other"])
    assert list(known) == ["budget"]
    assert known["budget"].thread_id == second
    assert known["budget"].last_date == datetime(2026, 11, 5, tzinfo=UTC)


# -- folder positions and mail actions -------------------------------------------------------


def test_folder_position_round_trip(store: StateStore) -> None:
    """A saved position is read back, an update replaces it, other folders stay unknown."""
    assert store.folder_position("mb", "INBOX") is None
    store.save_folder_position("mb", "INBOX", FolderPosition(uidvalidity=100, last_uid=7))
    assert store.folder_position("mb", "INBOX") == FolderPosition(100, 7)
    store.save_folder_position("mb", "INBOX", FolderPosition(uidvalidity=101, last_uid=2))
    assert store.folder_position("mb", "INBOX") == FolderPosition(101, 2)
    assert store.folder_position("mb", "Archive") is None
    assert store.folder_position("other", "INBOX") is None


def test_mail_actions_are_pending_only_after_confirmation_then_done(store: StateStore) -> None:
    """`confirm(mail_action=True)` makes the flag or move pending; done actions are not listed."""
    thread = store.new_thread("sales", "S/Flag")
    store.record_intent("sales", thread, [intent("f@ex.org", uid=7), intent("g@ex.org", uid=8)])
    assert store.pending_mail_actions("sales", "INBOX") == []
    store.confirm("sales", thread, "S/Flag", ["f@ex.org", "g@ex.org"], 1, mail_action=True)
    assert store.pending_mail_actions("sales", "INBOX") == [7, 8]
    assert store.pending_mail_actions("sales", "Archive") == []
    store.mail_actions_done("sales", "INBOX", [7])
    assert store.pending_mail_actions("sales", "INBOX") == [8]
    published(store, "sales", "S/Keep", "k@ex.org")  # confirmed without an action
    assert store.pending_mail_actions("sales", "INBOX") == [8]


def test_pending_mail_actions_follow_their_mail_after_a_renumbering(store: StateStore) -> None:
    """Pending flags/moves are detached from stale UIDs and re-attached to the mail's new UID."""
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


# -- failures, passes and status -------------------------------------------------------------


def test_record_failure_counts_attempts_and_clear_removes(store: StateStore) -> None:
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


def test_failures_are_retried_later_and_parked_after_the_last_try(store: StateStore) -> None:
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


def test_failure_keeps_known_message_id(store: StateStore) -> None:
    """A later failure without id does not erase the id recorded earlier."""
    store.record_failure("mb", "INBOX", 1, 2, "a@x", "first", POLICY)
    store.record_failure("mb", "INBOX", 1, 2, None, "second", POLICY)
    assert store.failures("mb")[0].message_id == "a@x"


def test_record_pass_keeps_the_last_success_and_the_last_error(store: StateStore) -> None:
    """A pass outcome is stored: the success time and backlog, and the error sentence with its time."""
    empty = store.mailbox_status("mb")
    assert (empty.last_success, empty.last_error, empty.backlog) == (None, None, None)
    store.record_pass("mb", None, backlog=4)
    store.record_pass("mb", "the wiki is down")
    status = store.mailbox_status("mb")
    assert status.last_success is not None
    assert status.last_error == "the wiki is down"
    assert status.last_error_at is not None
    assert status.backlog == 4


def test_mailbox_status_counts_pages_published_held_and_failed(store: StateStore) -> None:
    """Pages and published messages count only what the wiki confirmed; each mailbox on its own."""
    published(store, "mb", "T/one", "a@x", "b@x")
    pending = store.new_thread("mb", "T/two")
    store.record_intent("mb", pending, [intent("c@x")])
    store.quarantine_mail(_held("q@x"))
    store.record_failure("mb", "INBOX", 1, 9, None, "broken", POLICY)
    status = store.mailbox_status("mb")
    assert (status.mailbox, status.pages, status.published) == ("mb", 1, 2)
    assert (status.quarantined, status.failed, status.parked) == (1, 1, 0)
    other = store.mailbox_status("other")
    assert (other.pages, other.published, other.quarantined, other.failed) == (0, 0, 0, 0)


def test_published_per_page_counts_confirmed_messages_by_page(store: StateStore) -> None:
    """`status` counts routes by the pages their mail is on: confirmed messages only, per mailbox."""
    published(store, "mb", "Sales/Mail/one", "a@x", "b@x")
    published(store, "mb", "Buy/Mail/two", "c@x")
    pending = store.new_thread("mb", "Buy/Mail/three")
    store.record_intent("mb", pending, [intent("d@x")])
    assert store.published_per_page("mb") == {"Sales/Mail/one": 2, "Buy/Mail/two": 1}
    assert store.published_per_page("other") == {}


# -- quarantine ------------------------------------------------------------------------------


def _held(message_id: str, uid: int = 4, content_hash: str | None = "h1") -> QuarantinedMail:
    return QuarantinedMail(
        mailbox="mb",
        message_id=message_id,
        folder="INBOX",
        uidvalidity=10,
        uid=uid,
        sender="eve@example.net",
        subject="Buy now",
        reason="sender not allowed",
        status=QuarantineStatus.QUARANTINED,
        created_at="",
        content_hash=content_hash,
        raw_size=300,
    )


def test_quarantine_holds_once_and_release_records_the_new_place(store: StateStore) -> None:
    """A held mail is recorded once; released, it is listed with the place the pass reads it from."""
    store.quarantine_mail(_held("q@x"))
    store.quarantine_mail(_held("q@x", uid=99))  # recorded again: nothing changes
    [entry] = store.quarantined("mb", QuarantineStatus.QUARANTINED)
    assert (entry.message_id, entry.uid, entry.sender, entry.reason) == (
        "q@x",
        4,
        "eve@example.net",
        "sender not allowed",
    )
    assert entry.status == QuarantineStatus.QUARANTINED
    assert entry.created_at != ""
    assert store.quarantine_status("mb", ["q@x", "other@x"]) == {"q@x": QuarantineStatus.QUARANTINED}
    assert store.quarantined("other") == []

    store.release("mb", "q@x", "Archive", 11, 21)
    assert store.quarantined("mb", QuarantineStatus.QUARANTINED) == []
    [released] = store.quarantined(status=QuarantineStatus.RELEASED)
    assert (released.folder, released.uidvalidity, released.uid) == ("Archive", 11, 21)
    assert store.quarantine_status("mb", ["q@x"]) == {"q@x": QuarantineStatus.RELEASED}
    assert [e.message_id for e in store.quarantined()] == ["q@x"]


def test_held_mail_has_a_fingerprint_until_released(store: StateStore) -> None:
    """A held id's content is known, so copies are held too; once released, its publication counts."""
    store.quarantine_mail(_held("q@x"))
    assert store.fingerprints("mb", ["q@x"]) == {"q@x": Fingerprint("h1", 300, held=True)}
    store.release("mb", "q@x", "INBOX", 10, 4)
    assert store.fingerprints("mb", ["q@x"]) == {}
    thread = store.new_thread("mb", "T/q")
    store.record_intent(
        "mb", thread, [IntendedMessage("q@x", (), "INBOX", 4, content_hash="h1", raw_size=300)]
    )
    assert store.fingerprints("mb", ["q@x"]) == {"q@x": Fingerprint("h1", 300)}


# -- hostile text ------------------------------------------------------------------------------

HOSTILE = "a\x00b\x1bc\u202e\U0001f600 {{x}} ' \" ; -- ? %s %(x)s"


def _visible(text: str) -> str:
    """Text as every backend keeps it: PostgreSQL's text cannot hold NUL, which becomes U+FFFD."""
    return text.replace("\x00", "\ufffd")


def test_text_from_hostile_mail_is_kept_and_found(store: StateStore) -> None:
    """Subjects, senders, reasons and subject keys with NUL, escape, bidi and astral characters,
    quotes and parameter markers are stored, shown and looked up like any other text."""
    held = dataclasses.replace(_held("q@x"), sender=f"eve{HOSTILE}@x", subject=HOSTILE, reason=HOSTILE)
    store.quarantine_mail(held)
    [shown] = store.quarantined("mb")
    assert (_visible(shown.sender), _visible(shown.subject), _visible(shown.reason)) == (
        _visible(held.sender),
        _visible(HOSTILE),
        _visible(HOSTILE),
    )
    store.record_failure("mb", "INBOX", 10, 5, None, HOSTILE, POLICY)
    assert _visible(store.failures("mb")[0].reason) == _visible(HOSTILE)
    thread = published(store, "mb", "Mb/Mail/Hostile", "h@x")
    store.record_subject("mb", HOSTILE, thread, datetime(2026, 11, 20, tzinfo=UTC))
    assert store.known_subjects("mb", [HOSTILE])[HOSTILE].thread_id == thread
