"""Mail that reuses a Message-ID for other content (pure).

Broken clients, resent drafts and some tools give different mails the same Message-ID. The id
alone would drop the later mail as a duplicate; its content tells a true duplicate (the copy in
Sent, a second delivery) from a different mail. A different mail is published as a variant: its
own id derived from the original id and the content, linked to the original so it joins the
same thread, with a note naming the earlier message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

from bridge.core.model import Message

VARIANT_MARK = ".variant-"
_BLANKS = re.compile(r"[ \t\u00a0]+")


def _normalized(text: str) -> str:
    """Text without the differences transports and clients add: line ends, trailing blanks, blank runs."""
    lines = (_BLANKS.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def content_hash(message: Message) -> str:
    """Hex SHA-256 of what a reader sees of a mail: subject, body text, HTML text, attachment contents.

    Headers that differ between copies of one mail (Received, Return-Path, the Sent copy's
    missing Delivered-To) are left out, so copies hash alike.
    """
    digest = hashlib.sha256()
    for part in (message.subject, message.body_text, message.body_html):
        digest.update(_normalized(part).encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    for file_hash in sorted(attachment.sha256 for attachment in message.attachments):
        digest.update(file_hash.encode("ascii"))
    return digest.hexdigest()


def variant_id(message_id: str, digest: str) -> str:
    """The id under which other content sent with `message_id` is published: stable per content."""
    local, at, domain = message_id.rpartition("@")
    if not at:
        return f"{message_id}{VARIANT_MARK}{digest[:16]}"
    return f"{local}{VARIANT_MARK}{digest[:16]}@{domain}"


def as_variant(message: Message, digest: str) -> Message:
    """`message` under its variant id, linked to the original so it joins the original's thread."""
    original = message.message_id
    return dataclasses.replace(
        message,
        message_id=variant_id(original, digest),
        references=(*message.references, original),
    )


def original_of(message_id: str) -> str | None:
    """The id a variant id was derived from, or None for an ordinary id."""
    local, at, domain = message_id.rpartition("@")
    head, mark, _ = (local if at else message_id).rpartition(VARIANT_MARK)
    if not mark:
        return None
    return f"{head}@{domain}" if at else head
