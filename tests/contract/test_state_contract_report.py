"""The state store contract for the adoption report: threads with their parts, mail times, first link
reply; the cache of page histories; when each report or status page last ran. Every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.adapters.state.ports import StateStore
from bridge.adapters.state.statuses import ReplyKind, ReplyStatus
from bridge.adapters.state.store import PageHistory
from tests.contract.state_backends import intent, published, store

__all__ = ["store"]


def _sent_link(store: StateStore, mailbox: str, message_id: str, thread: int, recipient: str) -> None:
    store.record_reply(mailbox, message_id, recipient, ReplyKind.LINK, thread, None, b"reply")
    store.set_reply_status(mailbox, message_id, recipient, ReplyKind.LINK, ReplyStatus.SENT)


def test_report_threads_join_parts_and_know_mail_times_and_the_first_link_reply(store: StateStore) -> None:
    """A thread's continuation parts count as the thread; only sent link replies count, per thread."""
    before = datetime.now(UTC) - timedelta(seconds=2)
    first = published(store, "mb", "P/Long", "a@x", "b@x")
    second = store.new_part("mb", "P/Long (part 2)", store.thread_part(first))
    store.record_intent("mb", second, [intent("c@x", "a@x", uid=3)])
    store.confirm("mb", second, "P/Long (part 2)", ["c@x"], revision=2)
    quiet = published(store, "mb", "P/Quiet", "q@x")
    store.record_intent("mb", quiet, [intent("pending@x", uid=9)])  # not on the wiki yet
    published(store, "other", "O/Elsewhere", "o@x")
    _sent_link(store, "mb", "a@x", first, "alice@example.org")
    store.record_reply("mb", "q@x", "bob@example.org", ReplyKind.LINK, quiet, None, b"due, not sent")
    store.record_reply("mb", "b@x", "carol@example.org", ReplyKind.LINK, first, "loop rule")

    records = {record.titles[0]: record for record in store.report_threads("mb")}
    assert set(records) == {"P/Long", "P/Quiet"}
    long, quiet_record = records["P/Long"], records["P/Quiet"]
    assert long.titles == ("P/Long", "P/Long (part 2)")
    assert len(long.mails) == 3 and len(quiet_record.mails) == 1
    stamps = [datetime.fromisoformat(stamp) for stamp in (*long.mails, *quiet_record.mails)]
    assert all(stamp.tzinfo is not None and stamp >= before.replace(microsecond=0) for stamp in stamps)
    assert long.link_reply is not None and datetime.fromisoformat(long.link_reply) >= stamps[0]
    assert quiet_record.link_reply is None
    assert store.report_threads("nobody") == []


def test_page_histories_are_kept_by_last_revision(store: StateStore) -> None:
    assert store.page_histories(["P/A", "P/B"]) == {}
    store.save_page_histories(
        {"P/A": PageHistory(7, ("2026-11-30T09:00:00Z", "2026-11-30T10:00:00Z")), "P/B": PageHistory(3, ())}
    )
    store.save_page_histories({"P/A": PageHistory(9, ("2026-11-30T09:00:00Z",))})
    assert store.page_histories(["P/A", "P/B", "P/C"]) == {
        "P/A": PageHistory(9, ("2026-11-30T09:00:00Z",)),
        "P/B": PageHistory(3, ()),
    }


def test_report_runs_are_remembered_per_page(store: StateStore) -> None:
    assert store.report_ran("P/Report") is None
    store.record_report_run("P/Report")
    ran = store.report_ran("P/Report")
    assert ran is not None
    assert abs(datetime.fromisoformat(ran) - datetime.now(UTC)) < timedelta(minutes=1)
    assert store.report_ran("Status") is None
