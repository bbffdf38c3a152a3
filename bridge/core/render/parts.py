"""Sizing thread pages for the wiki's article size limit (pure).

MediaWiki refuses an edit that makes a page's wikitext larger than `$wgMaxArticleSize`
(`contenttoobig`). The bridge fills a page only up to a capacity below that limit, because
people may edit the page between the size check and the edit, and the link to the next part
still has to fit. A thread's new messages are split, in order, across the room left on its
current page and as many new parts as needed; a single message larger than a whole page is
shortened to an excerpt (its full text goes to the wiki as a file).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

# What is kept free of the limit: 5 %, at least this much (edits by people, the link to the next part).
MIN_MARGIN_BYTES = 2048
# An excerpt of an oversized mail is at most this long: enough to read, not a page of its own.
MAX_EXCERPT_BYTES = 64 * 1024
# `join_sections` puts a blank line between two sections.
SEPARATOR_BYTES = 2
ELLIPSIS = "\n[…]"


@dataclass(frozen=True, slots=True)
class Rooms:
    """Bytes of message sections that still fit: on the thread's current page, and on a new part.

    `current` is None when the thread has no page yet (its first chunk creates one).
    """

    current: int | None
    new_page: int


def byte_size(text: str) -> int:
    """Return the size the wiki measures: bytes of UTF-8."""
    return len(text.encode())


def page_capacity(limit: int) -> int:
    """Return how many bytes the bridge fills a page up to, for a wiki limit of `limit` bytes."""
    return max(limit - max(limit // 20, MIN_MARGIN_BYTES), 0)


def section_cost(section: str) -> int:
    """Return the bytes one rendered section takes on a page, its separator included."""
    return byte_size(section) + SEPARATOR_BYTES


def split_sections(costs: Sequence[int], rooms: Rooms) -> list[list[int]]:
    """Split sections (their costs, in order) into chunks of indexes, one chunk per edit.

    The first chunk goes onto the current page (it is empty when nothing more fits there, or the
    thread has no page yet and it creates one); each later chunk is a new part. Order is kept.
    A section larger than a new page gets a part of its own: callers shorten such sections first.
    """
    chunks: list[list[int]] = [[]]
    room = rooms.new_page if rooms.current is None else rooms.current
    used = 0
    for index, cost in enumerate(costs):
        may_leave_empty = len(chunks) == 1 and rooms.current is not None
        if used + cost > room and (chunks[-1] or may_leave_empty):
            chunks.append([])
            room, used = rooms.new_page, 0
        chunks[-1].append(index)
        used += cost
    return chunks


def excerpt(text: str, max_bytes: int) -> str:
    """Return the start of `text` in at most about `max_bytes`, cut at a line break when one is near."""
    if byte_size(text) <= max_bytes:
        return text
    cut = text.encode()[:max_bytes].decode("utf-8", "ignore")
    line_end = cut.rfind("\n")
    if line_end > len(cut) // 2:
        cut = cut[:line_end]
    return cut.rstrip() + ELLIPSIS


def fit_excerpt(render: Callable[[str], str], text: str, room: int) -> str:
    """Return `render(excerpt)` for the longest excerpt of `text` whose section fits `room`.

    Escaping can make rendered text up to five times longer than the mail's, so the excerpt is
    halved until the section fits; an empty excerpt is the last resort.
    """
    budget = max(min(room // 4, MAX_EXCERPT_BYTES), 0)
    while True:
        section = render(excerpt(text, budget) if budget else ELLIPSIS.strip())
        if section_cost(section) <= room or budget == 0:
            return section
        budget //= 2
