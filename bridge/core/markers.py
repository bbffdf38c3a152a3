"""Reading the bridge's markers back from a thread page's wikitext (pure).

The bridge marks every message block with `data-message-id="…"`, a merged thread's note with
`data-merged-into="…"` and the link to a continuation page with `data-continued-on="…"`, each in
one canonical escaped form (see bridge/render/page.py). Reading them back is what lets the wiki
stand in for a lost state store. Only the exact canonical form counts: a look-alike that a person
typed into the page (other spacing, other escaping) is not taken for the bridge's own.

A message marker shows the Message-ID as the mail wrote it (pages written before that show the
canonical form, with a lower-case domain); the ids read back are normalized like every id the
bridge stores, so both spellings name the same message.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

from bridge.core.msgid import normalize_id
from bridge.core.render.page import continuation_marker, merge_marker, message_marker

_ATTRIBUTE = re.compile(r'\bdata-(message-id|merged-into|continued-on)="([^"]*)"')


@dataclass(frozen=True, slots=True)
class PageMarkers:
    """What the bridge's markers on one page say."""

    message_ids: tuple[str, ...]  # canonical (normalize_id), in page order, once each
    merged_into: str | None = None
    continued_on: str | None = None


_WRITERS: dict[str, Callable[[str], str]] = {
    "message-id": message_marker,
    "merged-into": merge_marker,
    "continued-on": continuation_marker,
}


def read_markers(text: str) -> PageMarkers:
    """Return the message ids (canonical, in page order, once each) and the notes marked on a page."""
    ids: dict[str, None] = {}
    notes: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(text):
        kind, raw = match.group(1), match.group(2)
        value = html.unescape(raw)
        if not value or _WRITERS[kind](value) != match.group(0):
            continue
        if kind == "message-id":
            # A value the bridge cannot have written from a mail's id is kept as it reads.
            ids.setdefault(normalize_id(value) or value)
        else:
            # A page's last note is the one that counts (notes are only ever appended).
            notes[kind] = value
    return PageMarkers(tuple(ids), notes.get("merged-into"), notes.get("continued-on"))
