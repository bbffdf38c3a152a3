"""A pass over a backlog plans whole threads: batches of complete threads, the position over out-of-order
batches, reading ahead on a thread of its own, and the pass's edits per thread (in-memory mailbox
and wiki, the real SQLite store)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.adapters.state.store import SqliteStateStore
from bridge.core.markers import read_markers
from bridge.errors import MailboxError
from bridge.sync.backlog import Prefetch, Watermark, read_backlog, thread_batches
from bridge.sync.mailbox_pass import MailboxSync
from tests.fakes import Crash, FakeMailbox, FakeWiki
from tests.mailgen import generate_mailbox
from tests.settings import mailbox_settings

BACKLOG = 400


@pytest.fixture
def state(tmp_path: Path) -> Iterator[SqliteStateStore]:
    """A fresh state store in a temporary file."""
    store = SqliteStateStore(tmp_path / "state.sqlite3")
    yield store
    store.close()


def _delivered(seed: int, messages: int) -> tuple[FakeMailbox, list[list[str]], dict[str, int]]:
    """A mailbox holding a generated history (replies before parents, missing parents)."""
    history = generate_mailbox(seed=seed, messages=messages, missing_parents=True, shuffle=True)
    mailbox = FakeMailbox()
    uids = {
        mid: mailbox.deliver("INBOX", raw)
        for mid, raw in zip(history.message_ids, history.mails, strict=True)
    }
    return mailbox, history.threads, uids


def test_batches_hold_whole_threads_oldest_first_within_the_batch_size(state: SqliteStateStore) -> None:
    """Every UID in one batch, every true thread in one batch, no batch of several threads over the size."""
    mailbox, threads, uids = _delivered(seed=11, messages=BACKLOG)
    sync = MailboxSync(mailbox_settings(batch_size=30), FakeWiki(), state)
    mailbox.select("INBOX")
    everything = mailbox.uids_after(0)
    batches = thread_batches(read_backlog(mailbox, "INBOX", 1, everything), sync.plan_groups, 30)
    assert sorted(uid for batch in batches for uid in batch) == everything
    batch_of = {uid: number for number, batch in enumerate(batches) for uid in batch}
    for thread in threads:
        assert len({batch_of[uids[mid]] for mid in thread}) == 1, thread
    sizes = {len(thread) for thread in threads}
    assert all(len(batch) <= 30 or len(batch) in sizes for batch in batches)
    # The first batch is small, so the first edit need not wait for a whole batch to be read.
    assert len(batches[0]) <= 3 or len(batches[0]) in sizes
    assert len(batches) < BACKLOG // 10


def test_mail_without_readable_headers_comes_last_and_copies_go_with_their_first(
    state: SqliteStateStore,
) -> None:
    """A mail whose probe names no headers is batched at the end; a second copy joins its original."""
    mailbox, _, uids = _delivered(seed=12, messages=20)
    mailbox.select("INBOX")
    first = next(iter(uids.values()))
    copy = mailbox.deliver("INBOX", mailbox.folders["INBOX"].mails[first])
    broken = mailbox.deliver("INBOX", b"\xff\xfe not a header\r\n\r\nbody")
    everything = mailbox.uids_after(0)
    sync = MailboxSync(mailbox_settings(), FakeWiki(), state)
    batches = thread_batches(read_backlog(mailbox, "INBOX", 1, everything), sync.plan_groups, 5)
    assert broken in batches[-1]
    assert any(first in batch and copy in batch for batch in batches)


def test_the_watermark_passes_only_a_run_handled_from_the_start() -> None:
    """Batches handled out of order move the position only over what is handled below it."""
    mark = Watermark([3, 5, 7, 9, 11])
    assert mark.handled([7, 9]) is None
    assert mark.left == 3
    assert mark.handled([3]) == 3
    assert mark.handled([5, 11]) == 11
    assert mark.left == 0
    assert mark.handled([]) is None


def test_prefetch_yields_in_order_and_raises_a_failure_in_its_turn() -> None:
    """Results come in the order of the items, from another thread; a failure surfaces where it belongs."""
    threads: set[str] = set()

    def load(item: int) -> int:
        threads.add(threading.current_thread().name)
        if item == 4:
            raise MailboxError("connection lost")
        return item * 10

    ahead = Prefetch(load, [1, 2, 3, 4, 5])
    seen: list[int] = []
    with pytest.raises(MailboxError):
        for value in ahead:
            seen.append(value)
    ahead.close()
    assert seen == [10, 20, 30]
    assert threads == {"bridge-prefetch"}


def test_prefetch_of_one_item_stays_on_the_callers_thread() -> None:
    """A pass with one batch starts no thread."""
    names: list[str] = []
    ahead = Prefetch(lambda item: names.append(threading.current_thread().name), [1])
    assert list(ahead) == [None]
    ahead.close()
    assert names == [threading.current_thread().name]


def _pages(wiki: FakeWiki) -> Counter[str]:
    return Counter(mid for page in wiki.pages.values() for mid in read_markers(page.text).message_ids)


def test_a_first_pass_over_a_backlog_makes_one_edit_per_thread(state: SqliteStateStore) -> None:
    """Threads spread over the whole backlog (replies before parents) are each published with one edit."""
    mailbox, threads, _ = _delivered(seed=13, messages=BACKLOG)
    wiki = FakeWiki()
    sync = MailboxSync(mailbox_settings(batch_size=25), wiki, state, open_mailbox=lambda _: mailbox)
    result = sync.run()
    counts = _pages(wiki)
    delivered = {mid for thread in threads for mid in thread}
    assert result.published == len(delivered)
    assert set(counts) == delivered
    assert set(counts.values()) == {1}
    assert wiki.edits == len(wiki.pages) == len(threads)


def test_a_pass_killed_mid_backlog_resumes_to_exactly_once(state: SqliteStateStore, tmp_path: Path) -> None:
    """A crash between two threads' edits: the position stayed before unhandled mail; the next pass
    publishes the rest, nothing twice, and still one edit per thread."""
    mailbox, threads, _ = _delivered(seed=14, messages=BACKLOG)
    wiki = FakeWiki()
    settings = mailbox_settings(batch_size=25)
    crashing = MailboxSync(settings, wiki, state, open_mailbox=lambda _: mailbox)
    original = crashing.executor.commit
    calls = 0

    def publish_then_crash(*args: object, **kwargs: object) -> bool:
        nonlocal calls
        calls += 1
        if calls == len(threads) // 2:
            raise Crash
        return original(*args, **kwargs)  # type: ignore[arg-type]

    crashing.executor.commit = publish_then_crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        crashing.run()
    MailboxSync(settings, wiki, state, open_mailbox=lambda _: mailbox).run()
    counts = _pages(wiki)
    assert set(counts) == {mid for thread in threads for mid in thread}
    assert set(counts.values()) == {1}
    assert wiki.edits == len(threads)


def test_a_backlog_published_on_four_lanes_is_still_one_edit_per_thread(state: SqliteStateStore) -> None:
    """`concurrency = 4`: the same pages as one lane, every mail once, one edit per thread."""
    mailbox, threads, _ = _delivered(seed=15, messages=BACKLOG)
    wiki = FakeWiki()
    sync = MailboxSync(
        mailbox_settings(batch_size=40), wiki, state, open_mailbox=lambda _: mailbox, concurrency=4
    )
    result = sync.run()
    counts = _pages(wiki)
    assert set(counts) == {mid for thread in threads for mid in thread}
    assert set(counts.values()) == {1}
    assert result.published == sum(counts.values())
    assert len(result.pages_created) == len(wiki.pages) == len(threads) == wiki.edits
