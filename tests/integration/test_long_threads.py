"""Threads of any length against the real MediaWiki with a small `$wgMaxArticleSize` (16 KB).

A thread that outgrows a page continues on `Subject (part 2)`, `(part 3)` …: every mail exactly
once across the parts, each page within the limit, parts linked both ways, the same categories,
later mail on the last part, whether the thread arrives mail by mail or in one backfill edit.
A single mail larger than a page is shortened, its full text uploaded as a file and linked.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bridge.adapters.state.store import SqliteStateStore
from bridge.adapters.wiki import WikiClient
from bridge.core.render.page import continuation_marker, message_marker
from bridge.core.render.titles import page_title
from bridge.sync.backfill import backfill
from bridge.sync.wikisetup import install_templates
from tests.integration.support import Space, WikiReader, make_mail
from tests.integration.test_attachments import download, file_info
from tests.servers import MediaWikiServer

LIMIT_KB = 16
THREAD = 60
SUBJECT = "[PATCH v3] mm: rework the page cache shrinker"
BASE = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def small_pages(mediawiki: MediaWikiServer) -> Iterator[int]:
    """The session wiki refuses pages over 16 KB during the test, and is back to its default after."""
    mediawiki.set_max_article_size(LIMIT_KB)
    try:
        yield LIMIT_KB * 1024
    finally:
        mediawiki.set_max_article_size(None)


def _body(number: int) -> str:
    # About 700 bytes of review text per mail, with markup characters that escaping lengthens.
    lines = [f"Reply {number}: on patch {number % 7}/7, the shrinker's scan = {number * 13} pages;"]
    lines += [f"> [{number}] line {i}: keep the {{lru}} lock held while *isolating* folios" for i in range(8)]
    return "\n".join(lines) + "\n"


def _thread(stem: str, count: int, first: int = 0) -> list[bytes]:
    """Mails `first`…`first+count-1` of one chain of replies (each answers the one before)."""
    mails = []
    for number in range(first, first + count):
        ids = [f"{stem}-{n}@lkml.example" for n in range(number + 1)]
        subject = SUBJECT if number == 0 else f"Re: {SUBJECT}"
        mails.append(
            make_mail(
                ids[-1],
                subject,
                _body(number),
                in_reply_to=ids[-2] if number else None,
                references=ids[:-1] or None,
                date=BASE + timedelta(minutes=number),
            )
        )
    return mails


def _ids(stem: str, count: int) -> set[str]:
    return {f"{stem}-{n}@lkml.example" for n in range(count)}


def _part_titles(space: Space, parts: int) -> list[str]:
    return [page_title(space.prefix, SUBJECT, 1, part, "en") for part in range(1, parts + 1)]


def _assert_parts(space: Space, reader: WikiReader, stem: str, count: int, limit: int) -> list[str]:
    """Every mail once across the parts, pages within the limit, linked both ways, same categories."""
    texts = reader.page_texts(space.prefix)
    parts = len(texts)
    assert parts >= 3, sorted(texts)
    titles = _part_titles(space, parts)
    assert sorted(texts) == sorted(titles)
    counts = Counter(
        mid
        for mid in _ids(stem, count)
        for text in texts.values()
        for _ in re.finditer(re.escape(message_marker(mid)), text)
    )
    assert counts == Counter(dict.fromkeys(_ids(stem, count), 1))
    # In order: each part holds later mail than the one before.
    numbers = [
        [int(n) for n in re.findall(rf"{re.escape(stem)}&#45;(\d+)@", texts[title])] for title in titles
    ]
    assert [n for part in numbers for n in part] == list(range(count))
    for index, title in enumerate(titles):
        assert len(texts[title].encode()) <= limit, title
        page = reader.parse(title)
        assert page.categories == ["Sales_mail"], title
        if index > 0:
            assert titles[index - 1] in page.links, title  # back to the previous part
            assert texts[title].index("ewb-continued-from") < texts[title].index("data-message-id")
        if index < parts - 1:
            assert titles[index + 1] in page.links, title  # on to the next part
            assert texts[title].count(continuation_marker(titles[index + 1])) == 1
        else:
            assert "data-continued-on" not in texts[title]
    return titles


def test_a_thread_published_mail_by_mail_continues_on_linked_parts(
    space: Space, reader: WikiReader, small_pages: int
) -> None:
    """Ten passes of six replies each: the thread fills part after part, later mail goes to the last."""
    stem = "inc"
    mails = _thread(stem, THREAD)
    for start in range(0, THREAD, 6):
        for raw in mails[start : start + 6]:
            space.append(raw)
        result = space.run_pass()
        assert (result.published, result.failed) == (6, 0)
    titles = _assert_parts(space, reader, stem, THREAD, small_pages)

    # One more reply, to the very first mail: it joins the thread on its last part.
    late = make_mail(
        "late@lkml.example", f"Re: {SUBJECT}", "Late answer.\n", in_reply_to=f"{stem}-0@lkml.example"
    )
    space.append(late)
    assert space.run_pass().published == 1
    assert message_marker("late@lkml.example") in reader.text(titles[-1])
    assert all(message_marker("late@lkml.example") not in reader.text(t) for t in titles[:-1])


def test_a_backfill_of_a_long_thread_fills_the_parts_in_order(
    space: Space, reader: WikiReader, small_pages: int, mediawiki: MediaWikiServer
) -> None:
    """One backfill edit's sections are split across as many parts as needed, one creation each."""
    stem = "bf"
    for raw in _thread(stem, THREAD):
        space.append(raw)
    settings = space.settings()
    wiki = WikiClient(settings.wiki)
    state = SqliteStateStore(settings.state.path)
    try:
        install_templates(wiki, only_missing=True)
        result = backfill(settings.mailboxes[0], wiki, state, None, None)
    finally:
        state.close()
        wiki.close()
    assert (result.published, result.failed) == (THREAD, 0)
    titles = _assert_parts(space, reader, stem, THREAD, small_pages)
    assert result.pages_created == titles
    # Each part was created once, and each but the last got one link to its successor.
    edits = reader.bot_contributions(mediawiki.bot_user, space.prefix)
    assert Counter(e["title"] for e in edits) == Counter({**dict.fromkeys(titles, 2), titles[-1]: 1})


def test_a_mail_larger_than_a_page_is_shortened_and_its_full_text_uploaded(
    space: Space, reader: WikiReader, small_pages: int, mediawiki: MediaWikiServer
) -> None:
    """A 40 KB mail: its section fits the page, says it is shortened, and links the whole text as a file."""
    body = "".join(f"Log line {n:05d}: kworker/u16:3 stalled for {n % 97} ms\n" for n in range(900))
    assert len(body.encode()) > 2 * small_pages
    space.append(make_mail("huge@lkml.example", "Crash log", body))
    result = space.run_pass()
    assert (result.published, result.failed) == (1, 0)
    title = page_title(space.prefix, "Crash log")
    text = reader.text(title)
    assert len(text.encode()) <= small_pages
    assert "Log line 00000" in text and "Log line 00899" not in text
    assert "too long for a wiki page and is shortened" in text
    [file_name] = re.findall(r"\[\[Media:(Mail-[0-9a-f]{16}-Crash_log\.txt)\]\]", text)
    [image] = file_info(reader, file_name)
    # The whole text, as parsed (the final line break of the body is not part of it).
    assert download(reader, image["url"], mediawiki) == body.rstrip("\n").encode()
