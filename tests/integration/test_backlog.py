"""A first `once` over a large backlog, and edits side by side (`[wiki] concurrency`), against the real
Dovecot and MediaWiki.

A first pass plans whole threads as `backfill` does: however a thread's mails are spread over
the backlog (replies before their parents, missing parents), each thread costs one edit, counted
per page through the wiki's API, every mail is on the wiki once, and flags follow only
confirmed edits. With `concurrency = 3`, edits to different pages run at once, never two to one
page, and each page keeps its mails in order.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.adapters.state.store import SqliteStateStore
from bridge.adapters.wiki import EditResult, WikiClient
from bridge.core.markers import read_markers
from bridge.service.config import WikiSettings
from bridge.sync.mailbox_pass import MailboxSync
from bridge.sync.wikisetup import install_templates
from tests.integration.service_support import marker_counts, multiappend
from tests.integration.support import WikiReader, folder_mail, make_mail, new_space
from tests.mailgen import generate_mailbox
from tests.servers import DovecotServer, MediaWikiServer

BACKLOG = 450


def test_a_first_once_over_a_backlog_makes_one_edit_per_thread(
    dovecot: DovecotServer, mediawiki: MediaWikiServer, tmp_path: Path
) -> None:
    """450 mails in realistic threads, read 25 at a time: one revision per page, every mail once,
    and every mail flagged (after its edit was confirmed)."""
    space = new_space(dovecot, mediawiki, tmp_path)
    history = generate_mailbox(seed=20261130, messages=BACKLOG, missing_parents=True, shuffle=True)
    multiappend(dovecot, space.user, space.folders[0], history.mails)
    space.write_config(batch_size=25, after_publish="flag")

    once = space.cli("once")
    assert once.returncode == 0, once.stderr[-3000:]

    reader = WikiReader(mediawiki)
    texts = reader.page_texts(space.prefix)
    counts = marker_counts(texts.values())
    assert set(counts) == set(history.message_ids)
    assert [mid for mid, count in counts.items() if count != 1] == []
    revisions = {title: len(reader.revisions(title)) for title in texts}
    assert {title: count for title, count in revisions.items() if count != 1} == {}
    assert len(texts) <= len(history.threads)
    flags = folder_mail(dovecot, space.user, space.folders[0])
    assert flags is not None and len(flags) == BACKLOG
    assert [mid for mid, found in flags.items() if "$Wiki" not in found] == []


class WatchedWiki(WikiClient):
    """The real client, watching its own page edits: how many run at once, per page and in all.

    Two page creations of one batch wait for each other: they can only meet if they run at once.
    The first batch is small (a tenth of the batch size: one conversation here), so they are the
    second and the third creation.
    """

    def __init__(self, settings: WikiSettings) -> None:
        super().__init__(settings)
        self.watch = threading.Lock()
        self.running: dict[str, int] = defaultdict(int)
        self.overlaps: list[str] = []
        self.most = 0
        self.meeting = threading.Barrier(2, timeout=60)
        self.creations = 0

    def _watched(self, title: str, edit: Callable[[], EditResult | None]) -> EditResult | None:
        with self.watch:
            self.running[title] += 1
            if self.running[title] > 1:
                self.overlaps.append(title)
            self.most = max(self.most, sum(self.running.values()))
        try:
            return edit()
        finally:
            with self.watch:
                self.running[title] -= 1

    def create_page(self, title: str, text: str, summary: str) -> EditResult | None:
        with self.watch:
            self.creations += 1
            meet = self.creations in (2, 3)
        if meet:
            self.meeting.wait()
        return self._watched(title, lambda: super(WatchedWiki, self).create_page(title, text, summary))

    def append_to_page(self, title: str, text: str, summary: str) -> EditResult | None:
        return self._watched(title, lambda: super(WatchedWiki, self).append_to_page(title, text, summary))


def _conversation(stem: str, number: int, first: int, count: int, start: datetime) -> list[bytes]:
    """Mails `first`…`first+count-1` of a reply chain, an hour apart."""
    ids = [f"{stem}-{number}-{n}@example.de" for n in range(first + count)]
    return [
        make_mail(
            ids[n],
            f"Re: Order {number}" if n else f"Order {number}",
            f"Message {n} about order {number}.\n",
            in_reply_to=ids[n - 1] if n else None,
            references=ids[:n] or None,
            date=start + timedelta(hours=n),
        )
        for n in range(first, first + count)
    ]


def test_edits_run_side_by_side_never_two_on_one_page_and_in_order(
    dovecot: DovecotServer, mediawiki: MediaWikiServer, tmp_path: Path
) -> None:
    """24 conversations published with `concurrency = 3`, then two more mails each: edits of different
    pages ran at once, never two on one page, every page in date order with each mail once."""
    space = new_space(dovecot, mediawiki, tmp_path)
    start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    stem = space.prefix.replace("/", "-")
    first = [mail for number in range(24) for mail in _conversation(stem, number, 0, 3, start)]
    later = [mail for number in range(24) for mail in _conversation(stem, number, 3, 2, start)]
    multiappend(dovecot, space.user, space.folders[0], first)
    settings = space.settings()
    wiki = WatchedWiki(settings.wiki)
    install_templates(wiki, only_missing=True)
    state = SqliteStateStore(settings.state.path)
    try:
        MailboxSync(settings.mailboxes[0], wiki, state, concurrency=3).run()
        multiappend(dovecot, space.user, space.folders[0], later)
        MailboxSync(settings.mailboxes[0], wiki, state, concurrency=3).run()
    finally:
        state.close()
        wiki.close()

    assert wiki.overlaps == []
    assert wiki.most >= 2
    texts = WikiReader(mediawiki).page_texts(space.prefix)
    assert len(texts) == 24
    for text in texts.values():
        ids = list(read_markers(text).message_ids)
        number = ids[0].split("-")[-2]
        assert ids == [f"{stem}-{number}-{n}@example.de" for n in range(5)]
