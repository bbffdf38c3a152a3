"""Subject normalisation (pure): reply/forward prefixes, list tags, generic subjects."""

from __future__ import annotations

import hashlib
import re

from bridge.core.render.escape import single_line

# Reply and forward markers of English, German and Nordic clients, optionally counted (Re[2]:),
# and mailing-list tags such as "[team]" in front of or between them.
_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|antw|antwort|fwd?|wg|sv|vs|tr|rif)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*|\[[^\[\]]{1,40}\]\s*)+",
    re.IGNORECASE,
)
_LIST_TAG = re.compile(r"\[[^\[\]]{1,40}\]")
# Subjects too common to say anything about which conversation a mail belongs to.
GENERIC_SUBJECTS = frozenset(
    {
        "",
        "(no subject)",
        "no subject",
        "kein betreff",
        "(kein betreff)",
        "hallo",
        "hello",
        "hi",
        "hey",
        "moin",
        "servus",
        "question",
        "questions",
        "frage",
        "fragen",
        "kurze frage",
        "quick question",
        "info",
        "infos",
        "information",
        "fyi",
        "zur info",
        "update",
        "test",
        "anfrage",
        "request",
        "meeting",
        "termin",
        "besprechung",
        "danke",
        "thanks",
        "thank you",
        "dringend",
        "urgent",
        "wichtig",
        "important",
        "status",
        "todo",
        "notiz",
        "note",
    }
)


def base_subject(subject: str) -> str:
    """Strip reply/forward prefixes (Re:, AW:, Fwd:, WG:, SV:, Antw: …) and list tags, repeated."""
    return _PREFIX.sub("", single_line(subject)).strip()


def heading_subject(subject: str) -> str:
    """The subject as a message's heading shows it: list tags dropped like in the page title,
    reply and forward prefixes kept (they tell a reply from the thread's first mail)."""
    text = single_line(subject)
    match = _PREFIX.match(text)
    if match is None or not text[match.end() :].strip():
        return text.strip()  # a subject that is all tag (`[urgent]`) is said as written
    prefixes = " ".join(_LIST_TAG.sub(" ", match.group(0)).split())
    return f"{prefixes} {text[match.end() :]}".strip()


# Characters of a subject key; PostgreSQL indexes hold a few kB per key (4 bytes a character at most).
_MAX_KEY = 300


def subject_key(subject: str) -> str:
    """Return the form under which two subjects count as the same conversation.

    A key longer than `_MAX_KEY` (only hostile mail has one) keeps its start and a digest of the
    rest, so it still tells subjects apart and fits a database index.
    """
    key = " ".join(base_subject(subject).casefold().split())
    if len(key) <= _MAX_KEY:
        return key
    return f"{key[: _MAX_KEY - 18]} #{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def is_generic(key: str) -> bool:
    """Tell whether a subject key is too common to join threads by (`hallo`, `Question` …)."""
    return key.strip(" .!?:-") in GENERIC_SUBJECTS
