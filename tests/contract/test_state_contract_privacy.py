"""The state store contract, continued: forgetting a person (GDPR Art. 17) and the audit."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from bridge.adapters.state.ports import StateStore
from bridge.adapters.state.statuses import QuarantineStatus, ReplyKind, ReplyStatus
from bridge.adapters.state.store import IntendedMessage, QuarantinedMail, ReplyDraft
from tests.contract.state_backends import intent, published, store

__all__ = ["store"]  # the parametrized fixture, used by every test here

ANNA = "anna@example.com"


def _quarantined(message_id: str, sender: str, subject: str) -> QuarantinedMail:
    return QuarantinedMail(
        "mb", message_id, "INBOX", 1, 7, sender, subject, "not allowed",
        QuarantineStatus.QUARANTINED, "2026-11-30T10:00:00+00:00",
    )  # fmt: skip


def _rows(store: StateStore) -> str:
    """Everything the store holds about replies and quarantine, as one text to search."""
    replies = store.open_replies("mb")
    quarantined = store.quarantined("mb")
    return repr((replies, quarantined, store.confirmed_reply_drafts("mb")))


def test_forgetting_leaves_no_readable_address_but_keeps_what_was_handled(store: StateStore) -> None:
    thread = published(store, "mb", "T/a", "a1@x", "b1@x")
    store.record_reply(
        "mb", "a1@x", "Anna@Example.com", ReplyKind.LINK, thread, None, b"To: anna@example.com"
    )
    store.record_reply("mb", "b1@x", "bernd@example.com", ReplyKind.LINK, thread, None, b"To: bernd")
    store.quarantine_mail(_quarantined("q1@x", ANNA, "Gehaltsabrechnung Anna"))
    store.quarantine_mail(_quarantined("q2@x", "carla@example.com", "Urlaub"))
    assert ANNA in _rows(store).lower()

    rows = store.forget_in_state([ANNA.upper()], ["a1@x"])
    assert (rows.replies, rows.quarantined) == (2, 1)  # by address, then the message's reply body
    text = _rows(store)
    assert "anna" not in text.lower()
    assert "bernd@example.com" in text and "carla@example.com" in text
    # The reply that was still due is not sent to a forgotten person; the others' are.
    assert [reply.message_id for reply in store.open_replies("mb")] == ["b1@x"]
    assert store.known_message_ids("mb", ["a1@x", "b1@x"]) == {"a1@x", "b1@x"}
    assert store.quarantine_status("mb", ["q1@x"]) == {"q1@x": QuarantineStatus.QUARANTINED}


def test_the_pseudonym_is_stable_and_keyed(store: StateStore) -> None:
    thread = published(store, "mb", "T/b", "a1@x", "a2@x")
    for message_id in ("a1@x", "a2@x"):
        store.record_reply("mb", message_id, ANNA, ReplyKind.LINK, thread, None, b"x")
        store.set_reply_status("mb", message_id, ANNA, ReplyKind.LINK, ReplyStatus.SENDING)
        store.set_reply_status("mb", message_id, ANNA, ReplyKind.LINK, ReplyStatus.SENT)
        store.forget_in_state([ANNA.upper()], [])
    # Both replies now stand under one pseudonym: the thread still counts as answered for it.
    pseudonym = store.pseudonym(ANNA)
    assert pseudonym == store.pseudonym(" Anna@Example.COM ")
    assert store.replied_in_thread("mb", thread, pseudonym)
    assert not store.replied_in_thread("mb", thread, ANNA)
    assert hashlib.sha256(ANNA.encode()).hexdigest()[:32] not in pseudonym  # keyed, not a bare hash


def test_drafts_of_forgotten_messages_are_dropped(store: StateStore) -> None:
    thread = store.new_thread("mb", "T/c")
    store.record_intent("mb", thread, [intent("a1@x")])
    store.record_reply_drafts("mb", [ReplyDraft("a1@x", ANNA, "{}", None)])
    store.confirm("mb", thread, "T/c", ["a1@x"], 3)
    rows = store.forget_in_state([], ["a1@x"])
    assert rows.drafts == 1
    assert store.confirmed_reply_drafts("mb") == []


def test_audit_entries_are_kept_in_order(store: StateStore) -> None:
    store.record_audit("root", "forget", "pages=2 messages=3")
    store.record_audit("admin", "forget", "pages=0 messages=0")
    entries = store.audit_entries()
    assert [(entry.actor, entry.summary) for entry in entries] == [
        ("root", "pages=2 messages=3"),
        ("admin", "pages=0 messages=0"),
    ]
    assert all(
        datetime.fromisoformat(entry.at) > datetime.now(UTC) - timedelta(minutes=5) for entry in entries
    )


def test_the_sender_of_published_mail_is_found_by_address_only(store: StateStore) -> None:
    thread = store.new_thread("mb", "T/d")
    store.record_intent(
        "mb",
        thread,
        [
            IntendedMessage("a1@x", (), "INBOX", 1, sender="Anna@Example.com"),
            IntendedMessage("b1@x", (), "INBOX", 2, sender="bernd@example.com"),
            IntendedMessage("c1@x", (), "INBOX", 3),
        ],
    )
    store.confirm("mb", thread, "T/d", ["a1@x", "b1@x", "c1@x"], 4)
    assert store.messages_from([ANNA]) == {"a1@x"}
    assert store.messages_from(["nobody@example.com"]) == set()
