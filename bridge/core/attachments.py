"""Which attachments go to the wiki, and under which names (pure).

A file is named after its content (`Mail-<sha256 prefix>-<original name>.<ext>`), so two
different files can never collide or overwrite each other, and the same file mailed twice is
the same wiki file. Files the wiki would refuse are not sent; they are listed on the page by
name and size with the reason.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from dataclasses import dataclass

from bridge.core.model import Attachment, Message

_UNSAFE_NAME = re.compile(r"[#<>\[\]|{}/\\:\"*?%~\x00-\x1f\x7f]+")
_SPACES = re.compile(r"[\s_]+")
_MAX_STEM_BYTES = 80
TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """What the wiki accepts: file extensions (lower case) and the largest file in bytes."""

    extensions: frozenset[str]
    max_bytes: int


def all_attachments(message: Message) -> Iterator[Attachment]:
    """Yield the attachments of a message and of the mails forwarded inside it."""
    yield from message.attachments
    for forwarded in message.forwarded:
        yield from all_attachments(forwarded)


def extension(attachment: Attachment) -> str:
    """Return the lower-case file extension, guessed from the content type when the name has none."""
    _, dot, ext = attachment.filename.rpartition(".")
    if dot and ext and re.fullmatch(r"[A-Za-z0-9]{1,10}", ext):
        return ext.lower()
    guessed = mimetypes.guess_extension(attachment.content_type) or ".bin"
    return guessed.lstrip(".").lower()


def wiki_file_name(attachment: Attachment) -> str:
    """Return the collision-free wiki file name for an attachment (without `File:`)."""
    stem = attachment.filename.rsplit(".", 1)[0] if "." in attachment.filename else attachment.filename
    stem = _SPACES.sub(" ", _UNSAFE_NAME.sub("-", stem)).strip(" .-") or "attachment"
    stem = stem.encode()[:_MAX_STEM_BYTES].decode("utf-8", "ignore").strip(" .-") or "attachment"
    return f"Mail-{attachment.sha256[:16]}-{stem}.{extension(attachment)}"


def refusal_reason(attachment: Attachment, limits: UploadLimits, max_bytes: int, language: str) -> str | None:
    """Return why an attachment will not be uploaded, or None when it will."""
    german = language == "de"
    if attachment.withheld:
        return (
            "aus Datenschutzgründen nicht veröffentlicht (Dateityp)"
            if german
            else "withheld for data protection (file type)"
        )
    if not attachment.data:
        return "leere Datei" if german else "the file is empty"
    if attachment.content_type in TNEF_TYPES or attachment.filename.lower() == "winmail.dat":
        return (
            "Outlook-Sonderformat (winmail.dat), das außerhalb von Outlook nicht lesbar ist"
            if german
            else "Outlook's private format (winmail.dat), which cannot be read outside Outlook"
        )
    limit = min(max_bytes, limits.max_bytes)
    if attachment.size > limit:
        mb = limit / (1024 * 1024)
        return f"größer als die Grenze von {mb:.0f} MB" if german else f"larger than the limit of {mb:.0f} MB"
    ext = extension(attachment)
    if ext not in limits.extensions:
        return (
            f"das Wiki nimmt keine .{ext}-Dateien an" if german else f"the wiki does not accept .{ext} files"
        )
    return None
