"""Storing a thread's attachments on the wiki, each file once per pass."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from bridge.core.attachments import refusal_reason, wiki_file_name
from bridge.core.model import Attachment
from bridge.core.render.page import FileRef
from bridge.errors import BridgeError, WikiRefusedError
from bridge.sync.planner import describe_failure
from bridge.sync.ports import Wiki
from bridge.sync.spaces import Space

log = structlog.get_logger("bridge.sync.uploads")


class Uploads:
    """Uploads a mailbox's attachments; what one pass stored is not uploaded again in it."""

    def __init__(self, mailbox: str, wiki: Wiki) -> None:
        self.mailbox = mailbox
        self.wiki = wiki
        # By content: a logo in every signature costs one upload per pass, not one per mail (the
        # wiki would name the existing file again, but each such ask costs it a whole upload).
        self._stored: dict[str, FileRef] = {}
        self._log = log.bind(mailbox=mailbox)

    def store(self, attachments: Sequence[Attachment], space: Space) -> dict[str, FileRef]:
        """Upload files (or find them on the wiki by content); say why where the wiki will not take one."""
        files: dict[str, FileRef] = {}
        if not attachments:
            return files
        limits = self.wiki.upload_limits()
        max_bytes = space.settings.space.max_attachment_mb * 1024 * 1024
        for attachment in attachments:
            if attachment.sha256 in files:
                continue
            reason = refusal_reason(attachment, limits, max_bytes, space.options.language)
            if reason is None and attachment.sha256 not in self._stored:
                reason = self._upload(attachment)
            if reason is None:
                files[attachment.sha256] = self._stored[attachment.sha256]
                continue
            files[attachment.sha256] = FileRef(None, reason)
            self._log.info("attachment.refused", filename_length=len(attachment.filename), reason=reason)
        return files

    def _upload(self, attachment: Attachment) -> str | None:
        """Store one file (remembered for the pass); None when stored, else why the wiki refused it."""
        try:
            # No look-up first: the name carries the content hash, and the wiki's warning about an
            # existing file (a lost answer, the same content elsewhere) makes `upload` return that
            # file, so a new file costs one request, not two.
            title = self.wiki.upload(
                wiki_file_name(attachment), attachment.data, f"Attachment from the {self.mailbox} mailbox"
            )
        except Exception as exc:  # one mail must never stop the mailbox
            if isinstance(exc, BridgeError) and not isinstance(exc, WikiRefusedError):
                raise
            return describe_failure("uploading the file", exc)
        self._stored[attachment.sha256] = FileRef(title)
        self._log.info("attachment.uploaded", file=title, size=attachment.size)
        return None
