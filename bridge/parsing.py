"""Raw RFC 5322 bytes -> `Message` (pure; mail-parser reads the headers, `mime` the parts)."""

from __future__ import annotations

import email.message
import email.utils
import re
from datetime import UTC, datetime

import mailparser

from bridge.errors import MessageError
from bridge.mime import decode_header_text, header_str, walk
from bridge.model import AutomationHeaders, Message
from bridge.msgid import extract_ids, synthesize_id, thread_index_id
from bridge.render.escape import single_line
from bridge.render.html import html_to_text

_SYNTH_HEADERS = ("From", "To", "Cc", "Date", "Subject")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_FORWARD_DEPTH = 3
_MAX_CONTENT_TYPES = 50


def parse_message(raw: bytes, fallback_date: datetime | None = None) -> Message:
    """Parse one mail; raise `MessageError` naming the problem when it cannot be read at all.

    `fallback_date` (the IMAP INTERNALDATE) stands in for a missing or unreadable Date header.
    """
    return _parse(raw, fallback_date, depth=0)


def _parse(raw: bytes, fallback_date: datetime | None, depth: int) -> Message:
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
    content = walk(headers)
    forwarded = tuple(
        message
        for inner in content.forwarded
        if depth < _MAX_FORWARD_DEPTH and (message := _parse_forwarded(inner, depth + 1)) is not None
    )
    sender = _addresses(headers.get_all("From") or [])
    return Message(
        message_id=message_id,
        references=tuple(ref for ref in references if ref != message_id),
        subject=single_line(decode_header_text(headers.get("Subject"))),
        sender_name=sender[0][0] if sender else "",
        sender_address=sender[0][1] if sender else "",
        date=_date(headers.get("Date"), fallback_date),
        body_text=content.plain.strip("\n") or html_to_text(content.html),
        has_own_id=has_own_id,
        thread_index=thread_index_id(headers.get("Thread-Index")),
        body_html=content.html,
        to=_addresses(headers.get_all("To") or []),
        cc=_addresses(headers.get_all("Cc") or []),
        attachments=tuple(content.attachments),
        forwarded=forwarded,
        events=tuple(content.events),
        automation=_automation(headers),
        original_id=_original_id(headers.get("Message-ID")) if has_own_id else "",
        original_references=_original_references(headers.get_all("References") or []),
    )


def _original_references(values: list[str]) -> tuple[str, ...]:
    """The References ids as written (case kept), oldest first, for the References of replies."""
    ids: dict[str, None] = {}
    for value in values:
        for found in re.findall(r"<([^<>]+)>", header_str(value)):
            ids.setdefault("".join(found.split()), None)
    return tuple(ids)


def _original_id(value: object) -> str:
    """The Message-ID as written (brackets and spaces removed, case kept), for replies."""
    text = header_str(value)
    match = re.search(r"<([^<>]+)>", text)
    return "".join((match.group(1) if match else text).split())


def _automation(headers: email.message.Message) -> AutomationHeaders:
    return_paths = headers.get_all("Return-Path")
    return AutomationHeaders(
        auto_submitted=header_str(headers.get("Auto-Submitted")).strip().lower(),
        precedence=header_str(headers.get("Precedence")).strip().lower(),
        list_id=header_str(headers.get("List-Id")).strip(),
        list_unsubscribe=header_str(headers.get("List-Unsubscribe")).strip(),
        # Servers prepend trace headers: the first Return-Path is the one of the final delivery.
        return_path=None if not return_paths else header_str(return_paths[0]).strip().strip("<>").strip(),
        auto_response_suppress=header_str(headers.get("X-Auto-Response-Suppress")).strip(),
        authentication_results=tuple(
            " ".join(header_str(value).split()) for value in headers.get_all("Authentication-Results") or []
        ),
        sender=next((address for _, address in _addresses(headers.get_all("Sender") or [])), ""),
        autoresponder=tuple(
            f"{name}: {header_str(value).strip()}"
            for name in ("X-Autoreply", "X-Autorespond")
            for value in headers.get_all(name) or []
        ),
        content_types=_content_types(headers),
    )


def _content_types(message: email.message.Message) -> tuple[str, ...]:
    """The distinct content types of the mail's own MIME tree, outermost first.

    Attached mails (message/rfc822) are not entered: a forwarded bounce does not make the
    forwarding person a robot. The walk is bounded, as hostile mail nests deeply.
    """
    found: dict[str, None] = {}
    stack = [message]
    while stack and len(found) < _MAX_CONTENT_TYPES:
        part = stack.pop()
        kind = part.get_content_type()
        found.setdefault(kind, None)
        payload = part.get_payload()
        if kind != "message/rfc822" and isinstance(payload, list):
            stack.extend(child for child in reversed(payload) if isinstance(child, email.message.Message))
    return tuple(found)


def _parse_forwarded(inner: email.message.Message, depth: int) -> Message | None:
    try:
        raw = inner.as_bytes()
    except (UnicodeError, LookupError, ValueError):
        return None
    try:
        return _parse(raw, None, depth)
    except MessageError:
        return None


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
        for ref in extract_ids(str(value)):
            ordered.setdefault(ref, None)
    for value in in_reply_to:
        for ref in extract_ids(str(value)):
            ordered.pop(ref, None)
            ordered[ref] = None
    return list(ordered)


def _addresses(values: list[str]) -> tuple[tuple[str, str], ...]:
    """Decode address headers (RFC 2047 names, 8-bit bytes) into (name, address) pairs.

    Split before decoding, so a decoded name with a comma ("Müller, Jürgen") stays one name.
    """
    pairs = email.utils.getaddresses([header_str(value) for value in values])
    decoded = ((decode_header_text(name).strip(), address.strip()) for name, address in pairs)
    return tuple((name, address) for name, address in decoded if name or address)


def _date(header: str | None, fallback: datetime | None) -> datetime:
    if header:
        try:
            parsed = email.utils.parsedate_to_datetime(header_str(header))
        except (TypeError, ValueError, IndexError):
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return fallback or _EPOCH
