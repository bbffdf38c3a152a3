"""Page-title rules (pure): every page of a mapping stays under its `page_prefix`.

The subject becomes one subpage segment below the prefix: characters MediaWiki forbids in
titles are replaced, `/` cannot open further levels, relative-path tricks (`..`) and entity or
percent-escape look-alikes are defused, and the whole title fits MediaWiki's 255-byte limit.
"""

from __future__ import annotations

import re
import unicodedata

from bridge.core.render.labels import label
from bridge.core.subjects import base_subject

MAX_TITLE_BYTES = 255
NO_SUBJECT = "(no subject)"

_ILLEGAL = re.compile(r"[#<>\[\]|{}\x00-\x1f\x7f\ufffd]")
_ENTITY_LIKE = re.compile(r"&(?=[A-Za-z0-9#\x80-\U0010ffff]+;)")
_PERCENT_ESCAPE = re.compile(r"%(?=[0-9A-Fa-f]{2})")
_TILDES = re.compile(r"~{3,}")
_SPACES = re.compile(r"[\s_]+")


def page_title(prefix: str, subject: str, attempt: int = 1, part: int = 1, language: str = "en") -> str:
    """Return the legal title for a thread: `prefix/cleaned subject`, ` (n)` added for attempt n > 1.

    Part k > 1 of a long thread (a continuation page) is `prefix/subject (part k)`, or
    `(Teil k)` in German, before any attempt suffix.
    """
    part_suffix = "" if part <= 1 else f" ({label(language, 'part', number=str(part))})"
    suffix = part_suffix + ("" if attempt <= 1 else f" ({attempt})")
    budget = MAX_TITLE_BYTES - len(prefix.encode()) - 1 - len(suffix.encode())
    segment = _truncate_utf8(_clean_segment(subject), budget).rstrip()
    # A segment of dots would make the title a relative path (`Prefix/..`), which is illegal.
    if not segment.strip("."):
        segment = NO_SUBJECT
    return f"{prefix}/{segment}{suffix}"


def _clean_segment(subject: str) -> str:
    text = unicodedata.normalize("NFC", base_subject(subject))
    text = _ILLEGAL.sub(" ", text)
    text = text.replace("/", "-")
    text = _ENTITY_LIKE.sub("& ", text)
    text = _PERCENT_ESCAPE.sub("% ", text)
    text = _TILDES.sub("~~", text)
    return _SPACES.sub(" ", text).strip()


def _truncate_utf8(text: str, max_bytes: int) -> str:
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", "ignore")
