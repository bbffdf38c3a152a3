"""The MIME tree of one mail -> bodies, attachments, forwarded mails, calendar events (pure).

Real mail lies about its charsets, nests parts in odd ways and breaks the standards; nothing
here raises on such input. Text is decoded with the declared charset when that works and
looks right, else as UTF-8, else as Windows-1252 (which decodes any byte), so a body is never
lost to a bad label.
"""

from __future__ import annotations

import base64
import binascii
import email.header
import email.message
import email.utils
import mimetypes
import quopri
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.policy import compat32

from bridge.core.model import Attachment, CalendarEvent

_TEXT_PLAIN, _TEXT_HTML = "text/plain", "text/html"
_FOLDING = re.compile(r"\r?\n(?=[ \t])")
_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(?<=\?=)[ \t]+(?==\?[^?\s]*\?[bBqQ]\?)")
# Signature parts: a detached signature is no document to read, the page says the mail was signed.
SIGNATURE_KINDS = {
    "application/pgp-signature": "signed_openpgp",
    "application/pkcs7-signature": "signed_smime",
    "application/x-pkcs7-signature": "signed_smime",
}
_ALIASES = {"unknown-8bit": "utf-8", "x-unknown": "utf-8", "8bit": "utf-8", "ascii": "us-ascii"}


@dataclass
class MimeContent:
    """What the walk found: the chosen bodies, attachments, forwarded mails and events."""

    plain: str = ""
    html: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    forwarded: list[email.message.Message] = field(default_factory=list)
    events: list[CalendarEvent] = field(default_factory=list)
    # Inline text parts with a file name: the body of a mail that has no other text.
    named_texts: list[tuple[email.message.Message, Attachment]] = field(default_factory=list)


def decode_text(data: bytes, declared: str | None) -> str:
    """Decode text bytes, repairing wrong or missing charset labels.

    Bytes that are valid UTF-8 but labelled ASCII/Latin-1 (a common client bug) are read as
    UTF-8; where that fails, each line is read as UTF-8 or else Windows-1252 (a Latin-1 list
    footer under a UTF-8 mail), so nothing raises and no line is lost.
    """
    charset = _ALIASES.get((declared or "").lower().strip(), (declared or "").lower().strip())
    if charset not in {
        "",
        "us-ascii",
        "iso-8859-1",
        "latin-1",
        "latin1",
        "windows-1252",
        "cp1252",
        "utf-8",
        "utf8",
    }:
        try:
            return data.decode(charset)
        except (LookupError, UnicodeError, ValueError):
            # Unknown names, non-text codecs (`base64`), codecs that reject the bytes (`idna`).
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(_decode_line(line) for line in data.splitlines(keepends=True))


def _decode_line(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("cp1252", "replace")


def header_str(value: object, charset: str | None = None) -> str:
    """Return a header value as one line of text, repairing raw 8-bit bytes.

    Raw bytes (no encoded words) are read in `charset` (the one the mail's text declares) where
    that reads them, else as UTF-8, else Windows-1252. The compat32 parser hands them over as
    `Header` objects or with surrogate escapes; folding is undone.
    """
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        parts = []
        for chunk, chunk_charset in email.header.decode_header(value):
            if isinstance(chunk, bytes):
                known = chunk_charset not in (None, "unknown-8bit")
                parts.append(decode_text(chunk, chunk_charset if known else charset))
            else:
                parts.append(chunk)
        text = "".join(parts)
    else:
        text = str(value)
        if any("\udc80" <= char <= "\udcff" for char in text):
            text = decode_text(text.encode("utf-8", "surrogateescape"), charset)
    return _FOLDING.sub("", text)


def decode_header_text(value: object, charset: str | None = None) -> str:
    """Decode RFC 2047 encoded words (also where clients misuse them, as in file names).

    Adjacent words of one charset are decoded together, as clients split a character across
    two of them. A bogus or unknown charset (`NONE`) falls back like body text (UTF-8, else
    Windows-1252), a payload that is not valid base64 or quoted-printable stays as written.
    White space between two encoded words goes; raw 8-bit bytes are read as in `header_str`.
    """
    text = header_str(value, charset)
    if "=?" not in text:
        return text
    text = _BETWEEN_WORDS.sub("", text)
    parts: list[str] = []
    run: list[bytes] = []
    run_charset = ""
    end = 0
    for match in _ENCODED_WORD.finditer(text):
        data = _word_bytes(match)
        # RFC 2231 lets a charset carry a language (`utf-8*de`).
        word_charset = match.group(1).split("*", 1)[0].lower()
        if run and (match.start() != end or data is None or word_charset != run_charset):
            parts.append(decode_text(b"".join(run), run_charset))
            run = []
        parts.append(text[end : match.start()])
        if data is None:
            parts.append(match.group(0))
        else:
            run.append(data)
            run_charset = word_charset
        end = match.end()
    if run:
        parts.append(decode_text(b"".join(run), run_charset))
    parts.append(text[end:])
    return "".join(parts)


def _word_bytes(match: re.Match[str]) -> bytes | None:
    encoding, payload = match.group(2).lower(), match.group(3)
    try:
        if encoding == "b":
            return base64.b64decode(payload + "=" * (-len(payload) % 4))
        return quopri.decodestring(payload.replace("_", " ").encode("ascii"), header=False)
    except (binascii.Error, ValueError):
        return None


def text_charset(message: email.message.Message) -> str | None:
    """The charset the mail's first text part declares (for header bytes sent undeclared)."""
    pending = [message]
    while pending:
        part = pending.pop()
        if part.get_content_maintype() == "text" and (charset := part.get_content_charset()):
            return charset
        if part.get_content_type() != "message/rfc822":
            pending.extend(reversed(list(_children(part))))
    return None


def unflow(text: str, delsp: bool) -> str:
    """Join the soft line breaks of a `format=flowed` body (RFC 3676) and undo space-stuffing."""
    out: list[str] = []
    current: list[str] = []
    current_depth = -1
    for line in text.split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        if current and depth != current_depth:
            out.append(">" * current_depth + ("" if current_depth == 0 else " ") + "".join(current))
            current = []
        current_depth = depth
        if content.endswith(" ") and content != "-- ":
            current.append(content[:-1] if delsp else content)
            continue
        current.append(content)
        out.append(">" * depth + ("" if depth == 0 else " ") + "".join(current))
        current = []
    if current:
        out.append(">" * current_depth + ("" if current_depth <= 0 else " ") + "".join(current))
    return "\n".join(out)


def walk(message: email.message.Message) -> MimeContent:
    """Walk a parsed mail and collect its bodies, attachments, forwarded mails and events."""
    content = MimeContent()
    # Depth first in document order, without recursion: hostile mail nests hundreds of levels,
    # and the parts at the bottom are as much the mail as the others.
    pending = [message]
    while pending:
        part = pending.pop()
        if part.is_multipart() and part.get_content_type() != "message/rfc822":
            pending.extend(reversed(list(_children(part))))
        else:
            _visit(part, content)
    if not content.plain.strip() and not content.html.strip():
        _promote_named_texts(content)
    return content


def _promote_named_texts(content: MimeContent) -> None:
    """Make the first named inline text part of each kind the body (clients name the text itself)."""
    for part, attachment in content.named_texts:
        kind = attachment.content_type
        if content.html if kind == _TEXT_HTML else content.plain:
            continue
        if kind == _TEXT_HTML:
            content.html = _part_text(part)
        else:
            content.plain = _part_text(part)
        content.attachments.remove(attachment)


def _part_text(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else str(part.get_payload()).encode("utf-8", "replace")
    text = decode_text(data, part.get_content_charset()).replace("\r\n", "\n").replace("\r", "\n")
    if part.get_content_type() == _TEXT_PLAIN and _param(part, "format") == "flowed":
        text = unflow(text, _param(part, "delsp") == "yes")
    return text


def _param(part: email.message.Message, name: str) -> str:
    value = part.get_param(name)
    return (value if isinstance(value, str) else "").strip().lower()


def _calendar_text(part: email.message.Message) -> str:
    # RFC 5545 folds lines by octets, which may split a UTF-8 character: unfold before decoding.
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    return decode_text(re.sub(rb"\r?\n[ \t]", b"", data), part.get_content_charset())


def _filename(part: email.message.Message) -> str:
    name = part.get_filename() or part.get_param("name")
    # An RFC 2231 `name*=` parameter comes as (charset, language, text); a plain one is final
    # (collapsing it again would unquote `<…>` out of the name).
    text = email.utils.collapse_rfc2231_value(name) if isinstance(name, tuple) else name or ""
    return decode_header_text(text).strip()


def _visit(part: email.message.Message, content: MimeContent) -> None:
    """Collect one leaf part; multipart/alternative keeps both bodies, the renderer picks the richer."""
    kind = part.get_content_type()
    disposition = (part.get_content_disposition() or "").lower()
    if kind == "message/rfc822":
        # Only a parsed inner mail is a list; anything else would be decoded by its charset.
        nested = part.get_payload() if part.is_multipart() else None
        inner = nested[0] if isinstance(nested, list) and nested else None
        if isinstance(inner, email.message.Message):
            content.forwarded.append(_attached_mail(part, inner))
        return
    if kind == "text/calendar":
        content.events.extend(parse_calendar(_calendar_text(part)))
    # A multipart whose boundary is wrong or missing arrives as one unparsed text: keep it readable.
    broken_multipart = kind.startswith("multipart/")
    is_body = (
        (kind in (_TEXT_PLAIN, _TEXT_HTML) or broken_multipart)
        and disposition != "attachment"
        and not _filename(part)
    )
    if is_body:
        text = _part_text(part)
        if kind != _TEXT_HTML:
            content.plain = f"{content.plain}\n\n{text}" if content.plain else text
        else:
            content.html = f"{content.html}\n{text}" if content.html else text
        return
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    content_id = header_str(part.get("Content-ID")).strip().strip("<>") or None
    attachment = Attachment(
        filename=_filename(part) or _default_name(kind),
        content_type=kind,
        data=data,
        content_id=content_id,
        inline=disposition == "inline" or (content_id is not None and disposition != "attachment"),
    )
    content.attachments.append(attachment)
    if kind in (_TEXT_PLAIN, _TEXT_HTML) and disposition == "inline":
        content.named_texts.append((part, attachment))


def _attached_mail(part: email.message.Message, inner: email.message.Message) -> email.message.Message:
    """The attached mail as its sender wrote it.

    The parser reads a message/rfc822 part as a mail whatever its transfer encoding, so a base64
    or quoted-printable one arrives as a mail without headers whose body is the encoded text.
    """
    encoding = header_str(part.get("Content-Transfer-Encoding")).strip().lower()
    if encoding not in ("base64", "quoted-printable"):
        return inner
    try:
        raw = inner.as_bytes()
        data = base64.b64decode(raw) if encoding == "base64" else quopri.decodestring(raw)
    except (binascii.Error, ValueError, LookupError, UnicodeError):
        return inner  # not really encoded as declared: the mail as the parser read it
    return email.message_from_bytes(data, policy=compat32)


def _children(part: email.message.Message) -> Iterator[email.message.Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        yield from (child for child in payload if isinstance(child, email.message.Message))


def _default_name(kind: str) -> str:
    known = {"text/calendar": "ics", "application/ms-tnef": "dat", "text/plain": "txt", "text/html": "html"}
    extension = known.get(kind) or (mimetypes.guess_extension(kind) or ".bin").lstrip(".")
    return f"attachment.{extension}"


_ICS_LINE = re.compile(r"^([A-Z-]+)(;[^:]*)?:(.*)$")


def parse_calendar(text: str) -> list[CalendarEvent]:
    """Summarise the VEVENTs of an iCalendar text: title, start, end, place."""
    unfolded = re.sub(r"\r?\n[ \t]", "", text)
    events: list[CalendarEvent] = []
    current: dict[str, str] | None = None
    for line in unfolded.splitlines():
        if line.strip() == "BEGIN:VEVENT":
            current = {}
        elif line.strip() == "END:VEVENT" and current is not None:
            events.append(
                CalendarEvent(
                    summary=_ics_text(current.get("SUMMARY", "")),
                    start=_ics_time(current.get("DTSTART", "")),
                    end=_ics_time(current.get("DTEND", "")),
                    location=_ics_text(current.get("LOCATION", "")),
                )
            )
            current = None
        elif current is not None and (match := _ICS_LINE.match(line)):
            current.setdefault(match.group(1), match.group(3))
    return events


def _ics_text(value: str) -> str:
    return (
        value.replace("\\n", " ")
        .replace("\\N", " ")
        .replace("\\,", ",")
        .replace("\\;", ";")
        .replace("\\\\", "\\")
    )


def _ics_time(value: str) -> str:
    match = re.match(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})?(Z)?)?$", value.strip())
    if not match:
        return value.strip()
    year, month, day, hour, minute, _, utc = match.groups()
    if hour is None:
        return f"{year}-{month}-{day}"
    return f"{year}-{month}-{day} {hour}:{minute}{' UTC' if utc else ''}"
