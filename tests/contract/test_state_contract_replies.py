"""The state store contract, continued: replies and their drafts, continuation parts, and the
lost-state ledger (`state rebuild` and the guard), for every backend in `BACKENDS`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.adapters.state.ports import StateStore
from bridge.adapters.state.statuses import ReplyKind, ReplyStatus
from bridge.adapters.state.store import LedgerMessage, LedgerPage, ReplyDraft, ThreadPart
from tests.contract.state_backends import intent, published, store

__all__ = ["store"]  # the parametrized fixture, used by every test here

# -- replies ---------------------------------------------------------------------------------


def test_reply_goes_intended_sending_sent_once(store: StateStore) -> None:
    """A reply is recorded once per message, person and kind, is due until sent, and counts as given."""
    thread = published(store, "mb", "T/r", "m@x")
    assert store.record_reply("mb", "m@x", "P@Example.org", ReplyKind.LINK, thread, None, b"bytes")
    assert not store.record_reply("mb", "m@x", "p@example.org", ReplyKind.LINK, thread, None, b"other")
    [due] = store.open_replies("mb")
    assert (due.message_id, due.recipient, due.kind) == ("m@x", "p@example.org", ReplyKind.LINK)
    assert (due.thread_id, due.status, due.payload) == (thread, ReplyStatus.INTENDED, b"bytes")
    assert store.replied_in_thread("mb", thread, "P@example.org")
    assert not store.replied_in_thread("mb", thread, "q@example.org")

    store.set_reply_status("mb", "m@x", "p@example.org", ReplyKind.LINK, ReplyStatus.SENDING)
    [sending] = store.open_replies("mb")
    assert sending.status == ReplyStatus.SENDING
    store.set_reply_status("mb", "m@x", "p@example.org", ReplyKind.LINK, ReplyStatus.SENT)
    assert store.open_replies("mb") == []
    assert store.replied_in_thread("mb", thread, "p@example.org")
    assert store.open_replies("other") == []


def test_uncertain_and_refused_replies_are_never_due_again(store: StateStore) -> None:
    """A reply the server may have (`uncertain`) or refused for good leaves the due list for ever."""
    for message_id, outcome in (("u@x", ReplyStatus.UNCERTAIN), ("r@x", ReplyStatus.REFUSED)):
        store.record_reply("mb", message_id, "p@example.org", ReplyKind.LINK, None, None, b"x")
        store.set_reply_status("mb", message_id, "p@example.org", ReplyKind.LINK, ReplyStatus.SENDING)
        store.set_reply_status("mb", message_id, "p@example.org", ReplyKind.LINK, outcome)
    assert store.open_replies("mb") == []


def test_a_deferred_reply_is_due_again(store: StateStore) -> None:
    """A reply put back to `intended` (a temporary refusal) is due on the next pass."""
    store.record_reply("mb", "m@x", "p@example.org", ReplyKind.REFUSAL, None, None, b"x")
    store.set_reply_status("mb", "m@x", "p@example.org", ReplyKind.REFUSAL, ReplyStatus.SENDING)
    store.set_reply_status("mb", "m@x", "p@example.org", ReplyKind.REFUSAL, ReplyStatus.INTENDED)
    [due] = store.open_replies("mb")
    assert (due.kind, due.status) == (ReplyKind.REFUSAL, ReplyStatus.INTENDED)


def test_suppressed_replies_are_recorded_but_neither_due_nor_given(store: StateStore) -> None:
    """A suppressed reply keeps its reason; it is not sent and does not count as a reply given."""
    thread = published(store, "mb", "T/s", "m@x")
    assert store.record_reply("mb", "m@x", "p@example.org", ReplyKind.LINK, thread, "auto-submitted")
    assert store.open_replies("mb") == []
    assert not store.replied_in_thread("mb", thread, "p@example.org")
    assert store.replies_since("p@example.org", datetime.now(UTC) - timedelta(hours=1)) == 0


def test_replies_since_counts_given_replies_over_all_mailboxes(store: StateStore) -> None:
    """The hourly limit counts replies due, sending, sent and uncertain, per person, in any mailbox."""
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    store.record_reply("mb", "a@x", "p@example.org", ReplyKind.LINK, None, None, b"x")
    store.record_reply("other", "b@x", "P@example.org", ReplyKind.REFUSAL, None, None, b"x")
    store.record_reply("mb", "c@x", "q@example.org", ReplyKind.LINK, None, None, b"x")
    assert store.replies_since("p@example.org", hour_ago) == 2
    assert store.replies_since("p@example.org", datetime.now(UTC) + timedelta(minutes=1)) == 0


# -- reply drafts ----------------------------------------------------------------------------


def test_drafts_are_promoted_once_their_message_is_confirmed(store: StateStore) -> None:
    """A draft waits for its message's confirmation; promoted, it becomes the link reply, once."""
    thread = store.new_thread("mb", "T/d")
    store.record_intent("mb", thread, [intent("m@x")])
    store.record_reply_drafts("mb", [ReplyDraft("m@x", "P@example.org", '{"seed": 1}', None)])
    assert store.confirmed_reply_drafts("mb") == []
    store.confirm("mb", thread, "T/d", ["m@x"], revision=1)
    [confirmed] = store.confirmed_reply_drafts("mb")
    assert confirmed.draft == ReplyDraft("m@x", "p@example.org", '{"seed": 1}', None)
    assert (confirmed.thread_id, confirmed.page_title) == (thread, "T/d")

    assert store.promote_reply_draft("mb", "m@x", thread, None, b"reply")
    assert not store.promote_reply_draft("mb", "m@x", thread, None, b"reply")
    assert store.confirmed_reply_drafts("mb") == []
    [due] = store.open_replies("mb")
    assert (due.recipient, due.kind, due.payload) == ("p@example.org", ReplyKind.LINK, b"reply")


def test_a_draft_promoted_with_a_reason_is_suppressed(store: StateStore) -> None:
    """A draft whose reply a rule forbids becomes a suppressed reply, never due."""
    thread = published(store, "mb", "T/d", "m@x")
    store.record_reply_drafts("mb", [ReplyDraft("m@x", "p@example.org", "{}", "list mail")])
    [confirmed] = store.confirmed_reply_drafts("mb")
    assert confirmed.draft.reason == "list mail"
    assert store.promote_reply_draft("mb", "m@x", thread, "list mail", None)
    assert store.open_replies("mb") == []


def test_drafts_of_discarded_intents_are_dropped(store: StateStore) -> None:
    """When an intent is discarded its draft goes too; a draft recorded again replaces the old one."""
    thread = store.new_thread("mb", "T/lost")
    store.record_intent("mb", thread, [intent("m@x"), intent("n@x", uid=2)])
    store.record_reply_drafts("mb", [ReplyDraft("m@x", "p@example.org", "{}", None)])
    store.record_reply_drafts("mb", [ReplyDraft("m@x", "q@example.org", "{}", None)])
    store.record_reply_drafts("mb", [ReplyDraft("n@x", "p@example.org", "{}", None)])
    store.discard_pending("mb", ["m@x"])
    assert store.drop_orphaned_reply_drafts("mb") == 1
    assert store.drop_orphaned_reply_drafts("mb") == 0
    store.confirm("mb", thread, "T/lost", ["n@x"], revision=1)
    assert [c.draft.message_id for c in store.confirmed_reply_drafts("mb")] == ["n@x"]


# -- continuation parts ----------------------------------------------------------------------


def test_parts_chain_and_the_last_confirmed_part_takes_the_thread(store: StateStore) -> None:
    """A new part links to the previous and the first; once confirmed, the thread's ids resolve to it."""
    first = published(store, "mb", "Long", "a@x")
    assert store.thread_part(first) == ThreadPart(first, first, 1)
    second = store.new_part("mb", "Long (part 2)", store.thread_part(first))
    part = store.thread_part(second)
    assert (part.first_id, part.number, part.previous_id) == (first, 2, first)
    assert store.title_taken("Long (part 2)")

    store.record_intent("mb", second, [intent("b@x", "a@x", uid=2)])
    assert store.pending_part_links("mb") == []  # the part has no page yet
    store.confirm("mb", second, "Long (part 2)", ["b@x"], revision=2)
    store.make_current_part(second)
    assert store.threads_for_ids("mb", ["a@x", "b@x"]) == {"a@x": second, "b@x": second}
    [link] = store.pending_part_links("mb")
    assert (link.thread_id, link.page_title, link.previous_id, link.previous_title) == (
        second,
        "Long (part 2)",
        first,
        "Long",
    )
    store.part_link_done(second)
    assert store.pending_part_links("mb") == []

    third = store.new_part("mb", "Long (part 3)", store.thread_part(second))
    store.record_intent("mb", third, [intent("c@x", uid=3)])
    store.confirm("mb", third, "Long (part 3)", ["c@x"], revision=3)
    store.make_current_part(third)
    assert set(store.threads_for_ids("mb", ["a@x", "b@x", "c@x"]).values()) == {third}
    assert store.thread_part(third).number == 3


# -- the lost-state ledger: guard and `state rebuild` ----------------------------------------


def test_import_ledger_adds_pages_links_and_merges(store: StateStore) -> None:
    """Imported pages become done messages of threads with those titles, linked by every id."""
    assert not store.has_ledger("sales")
    pages = [
        LedgerPage(
            "Sales/Mail/Offer",
            7,
            (LedgerMessage("a@x", (), "INBOX", 3, mail_action=True), LedgerMessage("b@x", ("a@x", "root@x"))),
        ),
        LedgerPage(
            "Sales/Mail/Offer (2)", 9, (LedgerMessage("c@x", ("zz@x",)),), merged_into="Sales/Mail/Offer"
        ),
    ]
    assert store.import_ledger("sales", pages) == 3
    assert store.has_ledger("sales")
    assert store.known_message_ids("sales", ["a@x", "b@x", "c@x", "d@x"]) == {"a@x", "b@x", "c@x"}
    threads = store.threads_for_ids("sales", ["root@x", "zz@x"])
    # The merged page's ids resolve to the page its conversation continues on.
    assert threads["root@x"] == threads["zz@x"]
    assert store.thread_page(threads["root@x"]) == "Sales/Mail/Offer"
    assert store.pending_mail_actions("sales", "INBOX") == [3]
    assert store.pending_messages("sales") == []
    assert store.pending_merge_notes("sales") == []  # the note is on the wiki already
    # Importing again adds nothing; a known page gets only its new messages.
    assert store.import_ledger("sales", pages) == 0
    more = [LedgerPage("Sales/Mail/Offer", 8, (LedgerMessage("a@x"), LedgerMessage("e@x")))]
    assert store.import_ledger("sales", more) == 1
    assert store.threads_for_ids("sales", ["e@x"]) == {"e@x": threads["root@x"]}


def test_import_ledger_leaves_pages_of_other_mailboxes(store: StateStore) -> None:
    """A page already recorded for another mailbox is not taken over."""
    store.import_ledger("support", [LedgerPage("Shared/Page", 1, (LedgerMessage("s@x"),))])
    assert store.import_ledger("sales", [LedgerPage("Shared/Page", 2, (LedgerMessage("t@x"),))]) == 0
    assert store.known_anywhere(["s@x", "t@x"]) == {"s@x"}
    assert not store.has_ledger("sales")


def test_wiki_check_is_remembered_per_prefix(store: StateStore) -> None:
    """A checked prefix is remembered for its mailbox; a changed prefix needs a new check."""
    assert not store.wiki_checked("sales", "Sales/Mail")
    store.record_wiki_check("sales", "Sales/Mail")
    assert store.wiki_checked("sales", "Sales/Mail")
    assert not store.wiki_checked("sales", "Vertrieb/Mail")
    assert not store.wiki_checked("support", "Sales/Mail")


def test_import_ledger_numbers_continuation_parts(store: StateStore) -> None:
    """Pages linked by continuation notes become parts 1, 2, 3; mail of the thread goes to the last."""
    pages = [
        LedgerPage("Long (part 2)", 2, (LedgerMessage("b@x"),), continued_on="Long (part 3)"),
        LedgerPage("Long", 1, (LedgerMessage("a@x", ("root@x",)),), continued_on="Long (part 2)"),
        LedgerPage("Long (part 3)", 3, (LedgerMessage("c@x"),)),
    ]
    store.import_ledger("sales", pages)
    ids = store.threads_for_ids("sales", ["root@x", "a@x", "b@x", "c@x"])
    [last] = set(ids.values())
    assert store.thread_page(last) == "Long (part 3)"
    part = store.thread_part(last)
    assert part.number == 3
    assert store.thread_page(part.first_id) == "Long"
    assert part.previous_id is not None and store.thread_page(part.previous_id) == "Long (part 2)"
    assert store.pending_part_links("sales") == []
