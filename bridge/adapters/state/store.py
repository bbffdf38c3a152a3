"""The state store: what was read from each folder and what was published where.

`SqliteStateStore` is the embedded default (one file, WAL journal, schema version in `meta`),
made of one class per concern over one connection; `StateStore` and the smaller interfaces its
consumers use are in `ports`. Every look-up is by index over the ids of the current batch, so
the cost of a pass does not grow with the mailbox's history. The value types are re-exported
here, so `from bridge.adapters.state.store import …` names everything a consumer needs.
"""

from __future__ import annotations

from bridge.adapters.state.folders import FolderTables
from bridge.adapters.state.ledger import Fingerprint, IntendedMessage, MessageLedgerTables, PendingMessage
from bridge.adapters.state.parts import PendingPartLink, ThreadPart, ThreadPartTables
from bridge.adapters.state.passes import Failure, MailboxStatus, PassTables
from bridge.adapters.state.people import PeopleTables, ReplyCounts
from bridge.adapters.state.ports import StateStore
from bridge.adapters.state.quarantine import QuarantinedMail, QuarantineTables
from bridge.adapters.state.recovery import LedgerMessage, LedgerPage, RecoveryTables
from bridge.adapters.state.replies import ConfirmedDraft, ReplyDraft, ReplyIntent, ReplyTables
from bridge.adapters.state.schema import SCHEMA_VERSION
from bridge.adapters.state.thread_index import PendingMergeNote, ThreadIndexTables

__all__ = [
    "SCHEMA_VERSION",
    "ConfirmedDraft",
    "Failure",
    "Fingerprint",
    "IntendedMessage",
    "LedgerMessage",
    "LedgerPage",
    "MailboxStatus",
    "PendingMergeNote",
    "PendingMessage",
    "PendingPartLink",
    "QuarantinedMail",
    "ReplyCounts",
    "ReplyDraft",
    "ReplyIntent",
    "SqliteStateStore",
    "StateStore",
    "ThreadPart",
]


class SqliteStateStore(
    MessageLedgerTables,
    ThreadIndexTables,
    FolderTables,
    QuarantineTables,
    PassTables,
    RecoveryTables,
    ReplyTables,
    ThreadPartTables,
    PeopleTables,
):
    """The embedded state store: one SQLite file (mode 0600), every concern over one connection."""
