"""Header fields of hostile mail -> values (pure): addresses, the date, ids as written.

Each function takes what the compat32 parser hands over (strings, or `Header` objects where
raw 8-bit bytes were found) and never raises on what a sender can put into a header: what can
be read is kept, what cannot is replaced by the documented fallback.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Sequence
from datetime import UTC, datetime

from bridge.core.mime import decode_header_text, header_str

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Dates outside this window are clock errors or forgeries: the server's arrival time is truer.
_EARLIEST = EPOCH
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_ADDRESS = re.compile(r"[^\s<>(),;:\"\\\[\]@]+@[^\s<>(),;:\"\\\[\]@]+")
_BRACKETED = re.compile(r"<([^<>]+)>")
_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]+")
_MAX_ADDRESS = 254


def addresses(values: Sequence[object], charset: str | None = None) -> tuple[tuple[str, str], ...]:
    """Decode address headers (RFC 2047 names, 8-bit bytes) into (name, address) pairs.

    Split before decoding, so a decoded name with a comma ("Müller, Jürgen") stays one name.
    Raw 8-bit bytes are read in `charset` first (the one the mail's text declares).
    """
    texts = [header_str(value, charset) for value in values]
    try:
        pairs = email.utils.getaddresses(texts)
    except RecursionError:
        # The standard parser recurses once per nested group (`a:`) or comment (`(`): a header of
        # thousands of them exhausts the stack. The addresses in it are still worth keeping.
        pairs = [("", found) for text in texts for found in _ADDRESS.findall(text)]
    decoded = (_deliverable(decode_header_text(name).strip(), address.strip()) for name, address in pairs)
    return tuple((name, address) for name, address in decoded if name or address)


def _deliverable(name: str, address: str) -> tuple[str, str]:
    # SMTP takes addresses of at most 254 characters (RFC 5321); a longer one is hostile and
    # nobody's: it is shown, shortened, as the name and never answered or stored as an address.
    if len(address) <= _MAX_ADDRESS:
        return name, address
    return name or f"{address[:60]}…", ""


def mail_date(value: object, fallback: datetime | None) -> datetime:
    """Return the Date header as an aware datetime, or `fallback` (the IMAP INTERNALDATE).

    The fallback stands in for a missing, unreadable, impossible (30 February), overflowing
    (year 99999999999) or absurd (before 1970, after 2200) date; without one, the Unix epoch.
    """
    text = header_str(value)
    try:
        parsed = email.utils.parsedate_to_datetime(text) if text.strip() else None
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    if parsed is not None:
        moment = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        try:
            if _EARLIEST <= moment.astimezone(UTC) < _LATEST:
                return moment
        except OverflowError:  # year 9999 west of UTC, year 1 east of it
            pass
    return fallback or EPOCH


def original_id(value: object) -> str:
    """The Message-ID as written (brackets and spaces removed, case kept), for replies.

    Empty when it holds anything but printable ASCII: such an id cannot go into a header of a
    reply, which then names the canonical form instead.
    """
    text = header_str(value)
    match = _BRACKETED.search(text)
    written = "".join((match.group(1) if match else text).split())
    return written if _PRINTABLE_ASCII.fullmatch(written) else ""


def original_references(values: Sequence[object]) -> tuple[str, ...]:
    """The References ids as written (case kept), oldest first, for the References of replies.

    Ids holding anything but printable ASCII are left out, as in `original_id`.
    """
    ids: dict[str, None] = {}
    for value in values:
        for found in _BRACKETED.findall(header_str(value)):
            written = "".join(found.split())
            if _PRINTABLE_ASCII.fullmatch(written):
                ids.setdefault(written, None)
    return tuple(ids)
