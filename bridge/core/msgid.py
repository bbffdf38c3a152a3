"""Message-ID handling (pure): extraction from messy headers and one canonical form.

Real headers are sloppy: ids without angle brackets, folded or duplicated References, comments
and garbage between ids, upper-case domains, 8-bit and NUL bytes. Every id the bridge stores or
compares passes through `normalize_id`, so two spellings of one id never count as two messages.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re

_BRACKETED = re.compile(r"<([^<>]*)>")
_FOLDING = re.compile(r"[ \t\r\n]+")
# Anything but printable ASCII: 8-bit bytes however they were decoded, NUL and other controls.
_NOT_PRINTABLE = re.compile(r"[^\x21-\x7e]+")
_ALNUM = re.compile(r"[A-Za-z0-9]")
SYNTHETIC_DOMAIN = "email-wiki-bridge.invalid"
OVERLONG_DOMAIN = "overlong-id.invalid"
# Real ids stay far below this; a longer one is hostile, and a database index cannot hold it
# (PostgreSQL's btree takes a few kB per key): it is stored as a digest of itself.
MAX_ID_LENGTH = 500
THREAD_INDEX_DOMAIN = "thread-index.invalid"
# Outlook's Thread-Index starts with a 22-byte header (6 bytes of time, a 16-byte GUID) shared by
# every message of a conversation; each reply appends a 5-byte block.
_THREAD_INDEX_HEADER_BYTES = 22


def normalize_id(raw: str) -> str | None:
    """Return the canonical form of one id (no brackets or spaces, lower-case domain), or None.

    The local part keeps its case: RFC 5322 makes it case-sensitive, while domains are not.
    Each run of 8-bit or control characters becomes one `?`: the same raw bytes arrive decoded
    as UTF-8, as Windows-1252 or with replacement characters (the header-only IMAP fetch), and
    must still give one id. An id with no letter or digit left on either side of the `@` is
    none at all (a mail without one gets a synthesized id instead). An id longer than
    `MAX_ID_LENGTH` becomes `<digest>@overlong-id.invalid`, the same for every spelling of it.
    """
    text = _NOT_PRINTABLE.sub("?", _FOLDING.sub("", raw)).strip("<>")
    if not text or "@" not in text:
        return None
    local, _, domain = text.rpartition("@")
    if not _ALNUM.search(local) or not _ALNUM.search(domain):
        return None
    canonical = f"{local}@{domain.lower()}"
    if len(canonical) > MAX_ID_LENGTH:
        return f"{hashlib.sha256(canonical.encode()).hexdigest()[:40]}@{OVERLONG_DOMAIN}"
    return canonical


def extract_ids(header_value: str | None) -> list[str]:
    """Return the normalized ids in a Message-ID, In-Reply-To or References value, in order.

    Bracketed ids win; when a header has none (some clients drop the brackets), whitespace- or
    comma-separated tokens containing `@` are taken instead. Duplicates keep their first place.
    """
    if not header_value:
        return []
    candidates = _BRACKETED.findall(header_value)
    if not candidates:
        candidates = re.split(r"[\s,]+", header_value)
    seen: dict[str, None] = {}
    for candidate in candidates:
        normalized = normalize_id(candidate)
        if normalized is not None:
            seen.setdefault(normalized, None)
    return list(seen)


def synthesize_id(header_block: str, body: bytes) -> str:
    """Return a stable id for a mail without Message-ID, derived from its headers and body.

    It never depends on the IMAP UID, so a re-fetch after a UIDVALIDITY change or a copy in
    another folder yields the same id and the mail is still published once.
    """
    digest = hashlib.sha256(header_block.encode("utf-8", "replace") + b"\0" + body).hexdigest()
    return f"synth-{digest[:40]}@{SYNTHETIC_DOMAIN}"


def thread_index_id(header_value: str | None) -> str | None:
    """Return a pseudo id naming the Outlook conversation of a `Thread-Index` header, or None.

    Messages of one conversation share it, so it links replies whose References were dropped.
    """
    if not header_value:
        return None
    try:
        raw = base64.b64decode("".join(header_value.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < _THREAD_INDEX_HEADER_BYTES:
        return None
    return f"tix-{raw[:_THREAD_INDEX_HEADER_BYTES].hex()}@{THREAD_INDEX_DOMAIN}"
