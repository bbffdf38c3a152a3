"""The status values the state store records, shared by the code and the schema's CHECK lists.

Each column's allowed values are one `StrEnum`; `sql_list` writes them as the SQL list of the
column's `CHECK` constraint, so the code and the schema cannot name different values. The member
order is the order of today's CHECK lists: the generated DDL is the same text as before.
"""

from __future__ import annotations

from enum import StrEnum


class MessageStatus(StrEnum):
    """A message's wiki write: intended (`pending`) or confirmed by the wiki (`done`)."""

    PENDING = "pending"
    DONE = "done"


class MailAction(StrEnum):
    """The after-publish flag or move of a published mail: still to do, or done."""

    PENDING = "pending"
    DONE = "done"


class MergeNote(StrEnum):
    """The note on a merged thread's page pointing to the page it continues on."""

    PENDING = "pending"
    DONE = "done"


class PartLink(StrEnum):
    """The link from a continuation part's previous page to it."""

    PENDING = "pending"
    DONE = "done"


class ReplyKind(StrEnum):
    """A link reply (the page's address) or a refusal (the sender policy refused the mail)."""

    LINK = "link"
    REFUSAL = "refusal"


class ReplyStatus(StrEnum):
    """Where a reply stands: due, being sent, sent, not to be sent, maybe sent, refused for good."""

    INTENDED = "intended"
    SENDING = "sending"
    SENT = "sent"
    SUPPRESSED = "suppressed"
    UNCERTAIN = "uncertain"
    REFUSED = "refused"


class QuarantineStatus(StrEnum):
    """A mail the sender policy holds back, or one an admin released for publishing."""

    QUARANTINED = "quarantined"
    RELEASED = "released"


# Replies that count as given (for `reply = "first"` and the hourly limit).
GIVEN_REPLIES = (ReplyStatus.INTENDED, ReplyStatus.SENDING, ReplyStatus.SENT, ReplyStatus.UNCERTAIN)
# Replies still to be sent, or cut short while sending.
OPEN_REPLIES = (ReplyStatus.INTENDED, ReplyStatus.SENDING)


def sql_list(values: type[StrEnum] | tuple[StrEnum, ...]) -> str:
    """Return `values` as an SQL list of string literals, e.g. `('pending', 'done')`.

    The values are constants of this module (no quotes in them), never input.
    """
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"
