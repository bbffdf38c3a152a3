"""Reading the bridge's markers back from a thread page's wikitext (pure).

The bridge marks every message block with `data-message-id="…"`, a merged thread's note with
`data-merged-into="…"` and the link to a continuation page with `data-continued-on="…"`, each in
one canonical escaped form (see bridge/render/page.py). Reading them back is what lets the wiki
stand in for a lost state store. Only the exact canonical form counts: a look-alike that a person
typed into the page (other spacing, other escaping) is not taken for the bridge's own.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

from bridge.core.render.page import continuation_marker, merge_marker, message_marker

_ATTRIBUTE = re.compile(r'\bdata-(message-id|merged-into|continued-on)="([^"]*)"')


@dataclass(frozen=True, slots=True)
class PageMarkers:
    """What the bridge's markers on one page say."""

    message_ids: tuple[str, ...]
    merged_into: str | None = None
    continued_on: str | None = None


_WRITERS: dict[str, Callable[[str], str]] = {
    "message-id": message_marker,
    "merged-into": merge_marker,
    "continued-on": continuation_marker,
}


def read_markers(text: str) -> PageMarkers:
    """Return the message ids (in page order, once each) and the notes marked on a page's wikitext."""
    ids: dict[str, None] = {}
    notes: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(text):
        kind, raw = match.group(1), match.group(2)
        value = html.unescape(raw)
        if not value or _WRITERS[kind](value) != match.group(0):
            continue
        if kind == "message-id":
            ids.setdefault(value)
        else:
            # A page's last note is the one that counts (notes are only ever appended).
            notes[kind] = value
    return PageMarkers(tuple(ids), notes.get("merged-into"), notes.get("continued-on"))
