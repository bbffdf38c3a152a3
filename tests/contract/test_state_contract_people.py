"""The state store contract, people: the wiki account cache with its expiry, each conversation's
participants, and the reply counts `status` shows, for every backend in `BACKENDS`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.adapters.state.ports import StateStore
from bridge.adapters.state.statuses import ReplyKind, ReplyStatus
from bridge.adapters.state.store import ReplyCounts
from bridge.core.people import EXTERNAL_SENDER, Person
from tests.contract.state_backends import published, store

__all__ = ["store"]  # the parametrized fixture, used by every test here


def test_account_answers_are_remembered_until_they_expire(store: StateStore) -> None:
    """Both answers (exists, missing) come back while fresh; an answer older than `since` is unknown."""
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    assert store.known_accounts(["A.schmidt"], an_hour_ago) == {}
    store.record_accounts({"A.schmidt": True, "Nobody": False})
    assert store.known_accounts(["A.schmidt", "Nobody", "Other"], an_hour_ago) == {
        "A.schmidt": True,
        "Nobody": False,
    }
    assert store.known_accounts(["A.schmidt"], datetime.now(UTC) + timedelta(hours=1)) == {}
    store.record_accounts({"Nobody": True})  # the account was created meanwhile
    assert store.known_accounts(["Nobody"], an_hour_ago) == {"Nobody": True}


def test_a_conversation_gains_participants_once_each_in_order(store: StateStore) -> None:
    """Adding people counts only the new ones; the list keeps the order they first took part in."""
    thread = published(store, "mb", "T/people", "m@x")
    anna, kunde = Person("Anna", "a@firma.de", True), Person("Kunde", "k@kunde.example", False)
    assert store.add_thread_people(thread, [anna, kunde]) == 2
    assert store.add_thread_people(thread, [Person("Anna S.", "a@firma.de", True)]) == 0
    bernd = Person("Bernd", "b@firma.de", True)
    assert store.add_thread_people(thread, [bernd, kunde]) == 1
    assert store.thread_people(thread) == [anna, kunde, bernd]
    store.forget_in_state(["a@firma.de"], [])
    assert store.thread_people(thread) == [kunde, bernd]  # `forget` leaves no trace in the note's list
    assert store.thread_people(published(store, "mb", "T/other", "n@x")) == []


def test_reply_counts_tell_sent_suppressed_and_external(store: StateStore) -> None:
    """`status` counts replies sent, suppressed, and suppressed because the sender is external."""
    thread = published(store, "mb", "T/counts", "m1@x", "m2@x", "m3@x")
    assert store.reply_counts("mb") == ReplyCounts()
    store.record_reply("mb", "m1@x", "a@firma.de", ReplyKind.LINK, thread, None, b"x")
    store.set_reply_status("mb", "m1@x", "a@firma.de", ReplyKind.LINK, ReplyStatus.SENT)
    store.record_reply("mb", "m2@x", "k@kunde.example", ReplyKind.LINK, thread, EXTERNAL_SENDER, None)
    store.record_reply("mb", "m3@x", "a@firma.de", ReplyKind.LINK, thread, "older than 7 days", None)
    assert store.reply_counts("mb") == ReplyCounts(sent=1, suppressed=2, external=1)
    assert store.reply_counts("other") == ReplyCounts()
