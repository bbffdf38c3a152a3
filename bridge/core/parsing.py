"""Raw RFC 5322 bytes -> `Message` (pure; mail-parser reads the mail, `headers` and `mime` its fields).

Mail is hostile input, and one bad header or part must not cost the whole mail: `headers` and
`mime` repair or replace what they cannot read. What is left to fail here is a mail with
nothing in it, or one nested too deeply for any parser; that raises `MessageError` naming why.
"""

from __future__ import annotations

import email
import email.message
from collections.abc import Sequence
from datetime import datetime
from email.policy import compat32

import mailparser

from bridge.core.headers import addresses, mail_date, original_id, original_references
from bridge.core.mime import decode_header_text, header_str, text_charset, walk
from bridge.core.model import AutomationHeaders, Message
from bridge.core.msgid import extract_ids, synthesize_id, thread_index_id
from bridge.core.render.escape import single_line
from bridge.core.render.html import html_to_text
from bridge.errors import MessageError

_SYNTH_HEADERS = ("From", "To", "Cc", "Date", "Subject")
_MAX_FORWARD_DEPTH = 3
_MAX_CONTENT_TYPES = 50
_NO_AUTOMATION = AutomationHeaders()


def parse_message(raw: bytes, fallback_date: datetime | None = None) -> Message:
    """Parse one mail; raise `MessageError` naming the problem when it cannot be read at all.

    `fallback_date` (the IMAP INTERNALDATE) stands in for a missing or unreadable Date header.
    """
    if not raw.strip():
        raise MessageError("the mail is empty")
    try:
        parsed = _read(raw)
    except RecursionError as exc:
        # The standard parser recurses once per multipart level; a few hundred levels exhaust it.
        raise MessageError(
            "the mail's MIME parts are nested too deeply to be read (hundreds of levels)"
        ) from exc
    return _message(parsed, _body_bytes(raw), fallback_date, depth=0)


def parse_threading(header: bytes, stand_in: str) -> Message:
    """The threading fields of a header block as a `Message` of nothing else, read as `parse_message`
    reads them (Message-ID, References and In-Reply-To, Thread-Index, Date) at a fifth of its cost.

    A block without a Message-ID of its own gets `stand_in` (`parse_message` would derive one
    from the body) and `has_own_id` False. Planning a backlog of thousands of mails reads this.
    """
    headers = email.message_from_bytes(header, policy=compat32)
    own_ids = extract_ids(header_str(headers.get("Message-ID")))
    message_id = own_ids[0] if own_ids else stand_in
    references = _references(headers.get_all("References") or [], headers.get_all("In-Reply-To") or [])
    return Message(
        message_id=message_id,
        references=tuple(ref for ref in references if ref != message_id),
        subject="",
        sender_name="",
        sender_address="",
        date=mail_date(headers.get("Date"), None),
        body_text="",
        has_own_id=bool(own_ids),
        thread_index=thread_index_id(header_str(headers.get("Thread-Index"))),
        automation=_NO_AUTOMATION,
    )


def _read(raw: bytes) -> email.message.Message:
    """The mail's message tree, as mail-parser reads it.

    mail-parser also reads every header eagerly, and on hostile headers (thousands of encoded
    words, 8-bit bytes where ASCII belongs) that can raise anything. The tree it wraps is the
    standard parser's, so such a mail is read by the standard parser directly; `headers` and
    `mime` then read the fields defensively either way.
    """
    try:
        message: email.message.Message = mailparser.parse_from_bytes(raw).message
    except RecursionError:
        raise
    except Exception:  # mail-parser raises unrelated types on broken headers (see above)
        return email.message_from_bytes(raw, policy=compat32)
    return message


def _message(
    headers: email.message.Message, body: bytes, fallback_date: datetime | None, depth: int
) -> Message:
    """Build the `Message` of a parsed mail; `body` (its raw bytes) feeds a synthesized id."""
    own_ids = extract_ids(header_str(headers.get("Message-ID")))
    if own_ids:
        message_id, has_own_id = own_ids[0], True
    else:
        message_id, has_own_id = synthesize_id(_header_block(headers), body), False
    references = _references(headers.get_all("References") or [], headers.get_all("In-Reply-To") or [])
    content = walk(headers)
    forwarded = tuple(
        _message(inner, b"", None, depth + 1) for inner in content.forwarded if depth < _MAX_FORWARD_DEPTH
    )
    # Header bytes sent without a declared charset are most likely in the one the text declares.
    charset = text_charset(headers)
    sender = addresses(headers.get_all("From") or [], charset)
    return Message(
        message_id=message_id,
        references=tuple(ref for ref in references if ref != message_id),
        subject=single_line(decode_header_text(headers.get("Subject"), charset)),
        sender_name=sender[0][0] if sender else "",
        sender_address=sender[0][1] if sender else "",
        date=mail_date(headers.get("Date"), fallback_date),
        body_text=content.plain.strip("\n") or html_to_text(content.html),
        has_own_id=has_own_id,
        thread_index=thread_index_id(header_str(headers.get("Thread-Index"))),
        body_html=content.html,
        to=addresses(headers.get_all("To") or [], charset),
        cc=addresses(headers.get_all("Cc") or [], charset),
        delivered_to=_bare(headers.get_all("Delivered-To") or []),
        original_to=_bare(headers.get_all("X-Original-To") or []),
        attachments=tuple(content.attachments),
        forwarded=forwarded,
        events=tuple(content.events),
        automation=_automation(headers),
        original_id=original_id(headers.get("Message-ID")) if has_own_id else "",
        original_references=original_references(headers.get_all("References") or []),
    )


def _bare(values: Sequence[object]) -> tuple[str, ...]:
    """The addresses of trace headers that name a recipient (no display names there)."""
    return tuple(address for _, address in addresses(values) if address)


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
        sender=next((address for _, address in addresses(headers.get_all("Sender") or [])), ""),
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
        # `is_multipart` before `get_payload`: a leaf's payload is decoded with its declared
        # charset, and a charset such as `idna` raises there.
        if kind != "message/rfc822" and part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend(
                    child for child in reversed(children) if isinstance(child, email.message.Message)
                )
    return tuple(found)


def _header_block(headers: email.message.Message) -> str:
    # `str`, not `header_str`: folding and 8-bit bytes stay as synthesized ids always saw them,
    # so a mail read again (UIDVALIDITY change) keeps its id.
    return "\n".join(f"{name}: {value}" for name in _SYNTH_HEADERS for value in (headers.get_all(name) or []))


def _body_bytes(raw: bytes) -> bytes:
    for separator in (b"\r\n\r\n", b"\n\n"):
        _, found, body = raw.partition(separator)
        if found:
            return body
    return b""


def _references(references: Sequence[object], in_reply_to: Sequence[object]) -> list[str]:
    """Order the thread ancestry oldest first, the direct parent (In-Reply-To) last.

    In-Reply-To is the more reliable parent signal; References may be truncated by clients.
    """
    ordered: dict[str, None] = {}
    for value in references:
        for ref in extract_ids(header_str(value)):
            ordered.setdefault(ref, None)
    for value in in_reply_to:
        for ref in extract_ids(header_str(value)):
            ordered.pop(ref, None)
            ordered[ref] = None
    return list(ordered)
