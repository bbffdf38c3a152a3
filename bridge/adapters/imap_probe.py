"""What a cheap IMAP header fetch tells of a mail (pure): its Message-ID lines, size and threading fields.

Kept apart from the IMAP session (`imap.ImapMailbox`), which fills it, so the fakes of the tests
and the planner read probes the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridge.core.msgid import extract_ids

_MESSAGE_ID_FIELD = re.compile(rb"^message-id:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*", re.IGNORECASE | re.MULTILINE)


def message_id_lines(header: bytes) -> str:
    """The Message-ID fields of a header block as `HEADER.FIELDS (MESSAGE-ID)` gives them: each as
    written (folded lines kept), then the blank line."""
    fields = [match.group(0).rstrip(b"\r\n") for match in _MESSAGE_ID_FIELD.finditer(header)]
    return b"".join(field + b"\r\n" for field in fields).decode("utf-8", "replace") + "\r\n"


@dataclass(frozen=True, slots=True)
class HeaderProbe:
    """What a cheap header fetch tells of a mail: its raw Message-ID header lines, its size, and
    the raw header fields threading needs (ids, references, Thread-Index, date)."""

    message_id_header: str
    size: int
    threading: bytes = b""

    @property
    def message_id(self) -> str | None:
        """The canonical Message-ID the header names; None when it names none or cannot be read.

        An unreadable header is left to the full parse, which synthesizes an id if need be.
        """
        try:
            ids = extract_ids(self.message_id_header.partition(":")[2])
        except Exception:  # hostile header text: the body fetch resolves the mail
            return None
        return ids[0] if ids else None

    def summary(self) -> ProbeSummary:
        """What a pass keeps of the probe once the backlog is planned: Message-ID and size."""
        return ProbeSummary(self.message_id, self.size)


@dataclass(frozen=True, slots=True)
class ProbeSummary:
    """A header probe without its header bytes: ten thousand of them must cost little memory."""

    message_id: str | None
    size: int
