"""Raw RFC 5322 bytes -> `Message` (pure; mail-parser does the MIME and charset work)."""

from __future__ import annotations

import email.message
import email.utils
from datetime import UTC, datetime
from html.parser import HTMLParser

import mailparser

from bridge.errors import MessageError
from bridge.model import Message
from bridge.msgid import extract_ids, synthesize_id, thread_index_id

_SYNTH_HEADERS = ("From", "To", "Cc", "Date", "Subject")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_message(raw: bytes, fallback_date: datetime | None = None) -> Message:
    """Parse one mail; raise `MessageError` naming the problem when it cannot be read at all.

    `fallback_date` (the IMAP INTERNALDATE) stands in for a missing or unreadable Date header.
    """
    if not raw.strip():
        raise MessageError("the mail is empty")
    try:
        parsed = mailparser.parse_from_bytes(raw)
    except Exception as exc:  # mail-parser raises many unrelated types on broken MIME
        raise MessageError(f"the mail cannot be parsed: {type(exc).__name__}") from exc
    headers: email.message.Message = parsed.message
    own_ids = extract_ids(headers.get("Message-ID"))
    if own_ids:
        message_id, has_own_id = own_ids[0], True
    else:
        message_id, has_own_id = synthesize_id(_header_block(headers), _body_bytes(raw)), False
    references = _references(headers.get_all("References") or [], headers.get_all("In-Reply-To") or [])
    sender_name, sender_address = _sender(parsed.from_)
    return Message(
        message_id=message_id,
        references=tuple(ref for ref in references if ref != message_id),
        subject=(parsed.subject or "").strip(),
        sender_name=sender_name,
        sender_address=sender_address,
        date=_date(headers.get("Date"), fallback_date),
        body_text=_body_text(parsed.text_plain, parsed.text_html),
        has_own_id=has_own_id,
        thread_index=thread_index_id(headers.get("Thread-Index")),
    )


def _header_block(headers: email.message.Message) -> str:
    return "\n".join(f"{name}: {value}" for name in _SYNTH_HEADERS for value in (headers.get_all(name) or []))


def _body_bytes(raw: bytes) -> bytes:
    for separator in (b"\r\n\r\n", b"\n\n"):
        _, found, body = raw.partition(separator)
        if found:
            return body
    return b""


def _references(references: list[str], in_reply_to: list[str]) -> list[str]:
    """Order the thread ancestry oldest first, the direct parent (In-Reply-To) last.

    In-Reply-To is the more reliable parent signal; References may be truncated by clients.
    """
    ordered: dict[str, None] = {}
    for value in references:
        for ref in extract_ids(value):
            ordered.setdefault(ref, None)
    for value in in_reply_to:
        for ref in extract_ids(value):
            ordered.pop(ref, None)
            ordered[ref] = None
    return list(ordered)


def _sender(from_: list[tuple[str, str]]) -> tuple[str, str]:
    if not from_:
        return "", ""
    name, address = from_[0]
    return (name or "").strip(), (address or "").strip()


def _date(header: str | None, fallback: datetime | None) -> datetime:
    if header:
        try:
            parsed = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return fallback or _EPOCH


def _body_text(plain_parts: list[str], html_parts: list[str]) -> str:
    text = "\n".join(plain_parts) if plain_parts else "\n".join(_html_to_text(part) for part in html_parts)
    return text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML body; scripts and styles are dropped."""

    _INVISIBLE = frozenset({"script", "style", "head", "title"})
    _BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._INVISIBLE:
            self._hidden_depth += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._INVISIBLE and self._hidden_depth:
            self._hidden_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self.parts.append(data)


def _html_to_text(html: str) -> str:
    """Plain text of an HTML part; full HTML rendering is the renderer's job, not this one's."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = (line.strip() for line in "".join(extractor.parts).splitlines())
    return "\n".join(line for line in lines if line)
