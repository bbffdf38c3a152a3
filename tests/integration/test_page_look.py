"""A look at the thread pages: sample threads published by ``once``, checked as a reader sees them.

The samples (tests/page_samples.py) are German and English, plain and HTML, with attachments,
a signature, an attached message, a bottom-posted and an interleaved reply, delivered to
Dovecot as an MTA stores them. Each point of issue 11 that a reader notices is checked on the
HTML the real wiki renders (``action=parse``) and, for readable source, on the wikitext an
editor opens.
"""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from tests.integration.support import WikiReader
from tests.page_samples import (
    INTERLEAVED_ANSWERS,
    publish_samples,
)
from tests.servers import DovecotServer, MediaWikiServer


@pytest.fixture(scope="module")
def pages(
    dovecot: DovecotServer, mediawiki: MediaWikiServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """Sample key -> title of its page, published once for the whole module."""
    return publish_samples(dovecot, mediawiki, Path(tmp_path_factory.mktemp("look")))


def rendered(reader: WikiReader, title: str) -> str:
    """The page's HTML with character references resolved (a reader sees characters).

    No-break spaces read as spaces: the wiki puts them before `%`, `:` and the like by itself.
    """
    return html.unescape(reader.parse(title).html).replace("\xa0", " ")


def message_html(page_html: str, message_id: str) -> tuple[str, str]:
    """(visible part, folded part) of one message's HTML on a rendered page.

    A message runs from its marker to the next message's marker; what it folds starts at its
    collapsed quote box, which the renderer places after the visible body.
    """
    start = page_html.index(f'data-message-id="{message_id}"')
    end = page_html.find('class="ewb-message"', start)
    chunk = page_html[start : end if end >= 0 else len(page_html)]
    visible, _, folded = chunk.partition("ewb-quoted")
    return visible, folded


def test_interleaved_answers_stay_visible(pages: dict[str, str], reader: WikiReader) -> None:
    visible, _ = message_html(rendered(reader, pages["thread-de"]), "fb200-3@wagner.example.de")
    for answer in INTERLEAVED_ANSWERS:
        assert answer in visible
