"""The state store: what was read from each folder and what was published where.

`SqliteStateStore` is the embedded default (one file, WAL journal, schema version in `meta`);
`PostgresStateStore` holds the same tables in a PostgreSQL database that several instances
share. Both are the same classes, one per concern (`StateTables`), over their backend's
connection; `open_state_store` picks the one `[state]` names. `StateStore` and the smaller
interfaces its consumers use are in `ports`. Every look-up is by index over the ids of the current batch, so
the cost of a pass does not grow with the mailbox's history. The value types are re-exported
here, so `from bridge.adapters.state.store import …` names everything a consumer needs.
"""

from __future__ import annotations

from bridge.adapters.state.connection import SqliteConnection
from bridge.adapters.state.folders import FolderTables
from bridge.adapters.state.ledger import Fingerprint, IntendedMessage, MessageLedgerTables, PendingMessage
from bridge.adapters.state.parts import PendingPartLink, ThreadPart, ThreadPartTables
from bridge.adapters.state.passes import Failure, MailboxStatus, PassTables
from bridge.adapters.state.people import PeopleTables, ReplyCounts
from bridge.adapters.state.ports import StateStore
from bridge.adapters.state.postgres import PostgresConnection
from bridge.adapters.state.privacy import AuditEntry, ForgottenRows, PrivacyTables
from bridge.adapters.state.quarantine import QuarantinedMail, QuarantineTables
from bridge.adapters.state.recovery import LedgerMessage, LedgerPage, RecoveryTables
from bridge.adapters.state.replies import ConfirmedDraft, ReplyDraft, ReplyIntent, ReplyTables
from bridge.adapters.state.report import PageHistory, ReportTables, ThreadRecord
from bridge.adapters.state.schema import SCHEMA_VERSION
from bridge.adapters.state.thread_index import PendingMergeNote, ThreadIndexTables
from bridge.service.config import StateSettings

__all__ = [
    "SCHEMA_VERSION",
    "AuditEntry",
    "ConfirmedDraft",
    "Failure",
    "Fingerprint",
    "ForgottenRows",
    "IntendedMessage",
    "LedgerMessage",
    "LedgerPage",
    "MailboxStatus",
    "PageHistory",
    "PendingMergeNote",
    "PendingMessage",
    "PendingPartLink",
    "PostgresStateStore",
    "QuarantinedMail",
    "ReplyCounts",
    "ReplyDraft",
    "ReplyIntent",
    "SqliteStateStore",
    "StateStore",
    "StateTables",
    "ThreadPart",
    "ThreadRecord",
    "open_state_store",
]


class StateTables(
    MessageLedgerTables,
    ThreadIndexTables,
    FolderTables,
    QuarantineTables,
    PassTables,
    RecoveryTables,
    ReplyTables,
    ThreadPartTables,
    PeopleTables,
    ReportTables,
    PrivacyTables,
):
    """Every concern of the store, over whichever connection a backend's class adds."""


class SqliteStateStore(StateTables, SqliteConnection):
    """The embedded state store: one SQLite file (mode 0600), every concern over one connection."""


class PostgresStateStore(StateTables, PostgresConnection):
    """The shared state store: a PostgreSQL database that several instances use at once."""


def open_state_store(settings: StateSettings, read_only: bool = False) -> StateStore:
    """Open the store `[state]` names: PostgreSQL when `url` is set, else the SQLite file at `path`."""
    if settings.url is not None:
        return PostgresStateStore(settings, read_only)
    return SqliteStateStore(settings.path, read_only)
