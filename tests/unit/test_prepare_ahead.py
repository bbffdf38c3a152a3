"""At `concurrency = 1` the next group is prepared (uploaded, rendered) while a lane has an edit in
flight, and the exactly-once order holds: one edit at a time, intent before edit, confirm after."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from bridge.adapters.state.store import SqliteStateStore
from bridge.core.markers import read_markers
from bridge.sync.actions import PublishGroup
from bridge.sync.mailbox_pass import MailboxSync
from bridge.sync.preparing import Prepared
from bridge.sync.results import PassResult
from tests.fakes import FakeMailbox, FakeWiki
from tests.mailgen import generate_mailbox
from tests.settings import mailbox_settings


class SlowWiki(FakeWiki):
    """Each new page's edit takes 50 ms; the journal tells what happened meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.journal: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def create_page(self, title: str, text: str, summary: str):  # type: ignore[no-untyped-def]
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.journal.append("edit")
        time.sleep(0.05)
        try:
            return super().create_page(title, text, summary)
        finally:
            with self._lock:
                self.in_flight -= 1
                self.journal.append("edited")


def test_the_next_group_is_prepared_while_an_edit_is_in_flight(tmp_path: Path) -> None:
    history = generate_mailbox(seed=31, messages=40)
    mailbox = FakeMailbox()
    for raw in history.mails:
        mailbox.deliver("INBOX", raw)
    wiki = SlowWiki()
    state = SqliteStateStore(tmp_path / "state.sqlite3")
    sync = MailboxSync(mailbox_settings(batch_size=100), wiki, state, open_mailbox=lambda _: mailbox)
    prepare = sync.executor.preparer.prepare
    preparing_threads: set[str] = set()

    def prepare_and_tell(action: PublishGroup, result: PassResult) -> Prepared | None:
        preparing_threads.add(threading.current_thread().name)
        wiki.journal.append("prepare")
        return prepare(action, result)

    sync.executor.preparer.prepare = prepare_and_tell  # type: ignore[method-assign]
    try:
        result = sync.run()
    finally:
        state.close()
    pages = len(history.threads)
    assert result.published == len(history.mails)
    assert len(wiki.pages) == pages
    # The next group was prepared before the edit in flight ended: every time but at the end
    # of a batch, when no group is left to prepare.
    overlapped = prepared = edited = 0
    for entry in wiki.journal:
        prepared += entry == "prepare"
        if entry == "edited":
            edited += 1
            overlapped += prepared > edited
    assert overlapped >= pages - 3, (overlapped, wiki.journal)
    assert wiki.most_in_flight == 1  # concurrency 1: never two edits at once
    assert preparing_threads == {threading.current_thread().name}
    marked = [mid for page in wiki.pages.values() for mid in read_markers(page.text).message_ids]
    assert sorted(marked) == sorted(set(marked)) and len(marked) == len(history.mails)


def _mail(number: int, subject: str, day: int) -> bytes:
    return (
        f"From: Person {number} <p{number}@example.de>\r\nTo: team@example.de\r\n"
        f"Subject: {subject}\r\nDate: {day:02d} Nov 2026 09:00:00 +0000\r\n"
        f"Message-ID: <m{number}@example.de>\r\n\r\nText {number}.\r\n"
    ).encode()


def test_a_batch_is_planned_only_once_the_batch_before_is_confirmed(tmp_path: Path) -> None:
    """A subject sibling batches apart (no References, `thread_by_subject`) joins its page: the
    later batch's planning sees the earlier batch's subjects, even while edits are slow."""
    mailbox = FakeMailbox()
    for number in range(1, 11):
        mailbox.deliver("INBOX", _mail(number, f"Topic {number}", 1))
    # Oldest thread first, five mails a batch (the first: one): the root is the last group of
    # the fourth batch, its sibling alone in the fifth.
    mailbox.deliver("INBOX", _mail(0, "Budget 2027", 2))
    mailbox.deliver("INBOX", _mail(99, "AW: Budget 2027", 3))
    wiki = SlowWiki()
    state = SqliteStateStore(tmp_path / "state.sqlite3")
    settings = mailbox_settings(batch_size=5, thread_by_subject=True)
    try:
        result = MailboxSync(settings, wiki, state, open_mailbox=lambda _: mailbox).run()
    finally:
        state.close()
    assert result.published == 12
    pages = {title: read_markers(page.text).message_ids for title, page in wiki.pages.items()}
    budget = [ids for title, ids in pages.items() if "Budget" in title]
    assert budget == [("m0@example.de", "m99@example.de")], pages
    assert len(pages) == 11
