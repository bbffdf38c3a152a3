"""The state store's schema: its version, the tables and indexes, and the upgrades of older stores.

One text for every backend, written in SQLite's types; each backend's `Dialect.ddl` turns it into
its own (PostgreSQL: BIGINT, BYTEA, identity columns, byte-order text).

The CHECK lists come from the status enums (`statuses.sql_list`), so the code and the schema
always allow the same values; the text they produce is the text earlier versions wrote, so a
store made by an earlier version opens, upgrades and compares the same.
"""

from __future__ import annotations

from bridge.adapters.state.sql import Dialect, Transaction
from bridge.adapters.state.statuses import (
    OPEN_REPLIES,
    MailAction,
    MergeNote,
    MessageStatus,
    PartLink,
    QuarantineStatus,
    ReplyKind,
    ReplyStatus,
    sql_list,
)
from bridge.errors import StateError

SCHEMA_VERSION = 6

_MERGE_NOTE = f"merge_note TEXT CHECK (merge_note IN {sql_list(MergeNote)})"
_MAIL_ACTION = f"mail_action TEXT CHECK (mail_action IN {sql_list(MailAction)})"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS folders (
    mailbox TEXT NOT NULL, folder TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL, last_uid INTEGER NOT NULL,
    PRIMARY KEY (mailbox, folder)
);
CREATE TABLE IF NOT EXISTS threads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox TEXT NOT NULL,
    page_title TEXT,
    candidate_title TEXT NOT NULL,
    created_at TEXT NOT NULL,
    merged_into INTEGER REFERENCES threads (id),
    {_MERGE_NOTE}
);
CREATE UNIQUE INDEX IF NOT EXISTS threads_page ON threads (page_title);
CREATE INDEX IF NOT EXISTS threads_candidate ON threads (candidate_title);
CREATE TABLE IF NOT EXISTS messages (
    mailbox TEXT NOT NULL, message_id TEXT NOT NULL,
    thread_id INTEGER NOT NULL REFERENCES threads (id),
    status TEXT NOT NULL CHECK (status IN {sql_list(MessageStatus)}),
    folder TEXT NOT NULL, uid INTEGER NOT NULL,
    revision INTEGER, published_at TEXT,
    {_MAIL_ACTION},
    content_hash TEXT, raw_size INTEGER, sender_key TEXT,
    PRIMARY KEY (mailbox, message_id)
);
CREATE INDEX IF NOT EXISTS messages_sender ON messages (sender_key) WHERE sender_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_mail_action ON messages (mailbox, folder) \
WHERE mail_action = '{MailAction.PENDING}';
CREATE INDEX IF NOT EXISTS messages_pending ON messages (mailbox, status) \
WHERE status = '{MessageStatus.PENDING}';
CREATE TABLE IF NOT EXISTS thread_links (
    mailbox TEXT NOT NULL, linked_id TEXT NOT NULL,
    thread_id INTEGER NOT NULL REFERENCES threads (id),
    PRIMARY KEY (mailbox, linked_id)
);
CREATE TABLE IF NOT EXISTS thread_subjects (
    mailbox TEXT NOT NULL, subject_key TEXT NOT NULL,
    thread_id INTEGER NOT NULL REFERENCES threads (id), last_date TEXT NOT NULL,
    PRIMARY KEY (mailbox, subject_key)
);
CREATE TABLE IF NOT EXISTS replies (
    mailbox TEXT NOT NULL, message_id TEXT NOT NULL, recipient TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN {sql_list(ReplyKind)}),
    thread_id INTEGER,
    status TEXT NOT NULL
        CHECK (status IN {sql_list(ReplyStatus)}),
    reason TEXT, created_at TEXT NOT NULL, sent_at TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    payload BLOB,
    PRIMARY KEY (mailbox, message_id, recipient, kind)
);
CREATE INDEX IF NOT EXISTS replies_recipient ON replies (recipient, created_at);
CREATE INDEX IF NOT EXISTS replies_thread ON replies (mailbox, thread_id, recipient);
CREATE INDEX IF NOT EXISTS replies_open ON replies (mailbox, status) WHERE status IN {sql_list(OPEN_REPLIES)};
CREATE TABLE IF NOT EXISTS reply_drafts (
    mailbox TEXT NOT NULL, message_id TEXT NOT NULL, recipient TEXT NOT NULL,
    seed TEXT NOT NULL, reason TEXT, created_at TEXT NOT NULL,
    PRIMARY KEY (mailbox, message_id)
);
CREATE TABLE IF NOT EXISTS quarantine (
    mailbox TEXT NOT NULL, message_id TEXT NOT NULL,
    folder TEXT NOT NULL, uidvalidity INTEGER NOT NULL, uid INTEGER NOT NULL,
    sender TEXT NOT NULL, subject TEXT NOT NULL, reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN {sql_list(QuarantineStatus)}),
    created_at TEXT NOT NULL, content_hash TEXT, raw_size INTEGER,
    PRIMARY KEY (mailbox, message_id)
);
CREATE TABLE IF NOT EXISTS failures (
    mailbox TEXT NOT NULL, folder TEXT NOT NULL, uidvalidity INTEGER NOT NULL, uid INTEGER NOT NULL,
    message_id TEXT, reason TEXT NOT NULL, attempts INTEGER NOT NULL,
    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
    next_attempt_at TEXT, parked INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (mailbox, folder, uidvalidity, uid)
);
CREATE TABLE IF NOT EXISTS thread_parts (
    thread_id INTEGER PRIMARY KEY REFERENCES threads (id) ON DELETE CASCADE,
    first_id INTEGER NOT NULL, previous_id INTEGER NOT NULL, part INTEGER NOT NULL,
    link TEXT NOT NULL CHECK (link IN {sql_list(PartLink)})
);
CREATE INDEX IF NOT EXISTS thread_parts_link ON thread_parts (link) WHERE link = '{PartLink.PENDING}';
CREATE TABLE IF NOT EXISTS passes (
    mailbox TEXT PRIMARY KEY, last_success TEXT, last_error TEXT, last_error_at TEXT, backlog INTEGER
);
CREATE TABLE IF NOT EXISTS audit (
    at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, summary TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS wiki_checks (
    mailbox TEXT PRIMARY KEY, page_prefix TEXT NOT NULL, checked_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS wiki_accounts (
    name TEXT PRIMARY KEY, present INTEGER NOT NULL, checked_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS thread_people (
    thread_id INTEGER NOT NULL REFERENCES threads (id), address TEXT NOT NULL,
    name TEXT NOT NULL, inside INTEGER NOT NULL, position INTEGER NOT NULL,
    PRIMARY KEY (thread_id, address)
);
CREATE TABLE IF NOT EXISTS page_history (
    page_title TEXT PRIMARY KEY, last_revision INTEGER NOT NULL, human_edits TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS report_runs (page_title TEXT PRIMARY KEY, ran_at TEXT NOT NULL);
"""

# Upgrades of an existing store, by the version they lead to; fresh stores get SCHEMA directly.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (
        "ALTER TABLE threads ADD COLUMN merged_into INTEGER REFERENCES threads (id)",
        f"ALTER TABLE threads ADD COLUMN {_MERGE_NOTE}",
    ),
    3: (
        f"ALTER TABLE messages ADD COLUMN {_MAIL_ACTION}",
        "ALTER TABLE passes ADD COLUMN backlog INTEGER",
    ),
    4: (
        "ALTER TABLE failures ADD COLUMN next_attempt_at TEXT",
        "ALTER TABLE failures ADD COLUMN parked INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE messages ADD COLUMN content_hash TEXT",
        "ALTER TABLE messages ADD COLUMN raw_size INTEGER",
        "ALTER TABLE quarantine ADD COLUMN content_hash TEXT",
        "ALTER TABLE quarantine ADD COLUMN raw_size INTEGER",
    ),
    5: ("ALTER TABLE messages ADD COLUMN sender_key TEXT",),  # and the audit table, created by SCHEMA
    # The people tables (wiki_accounts, thread_people) are new tables: SCHEMA creates them.
    6: (),
}


# Tables read in the order their rows were written (by SQLite's implicit `rowid`).
ROW_ORDERED = ("reply_drafts", "replies")
# Every table, parents before the tables referencing them (the order `state migrate` copies in).
TABLES = (
    "meta",
    "folders",
    "threads",
    "messages",
    "thread_links",
    "thread_subjects",
    "replies",
    "reply_drafts",
    "quarantine",
    "failures",
    "thread_parts",
    "passes",
    "audit",
    "wiki_checks",
    "page_history",
    "report_runs",
    "wiki_accounts",
    "thread_people",
)


def stored_version(db: Transaction, dialect: Dialect) -> int | None:
    """Return the schema version a store records, or None for a store without one (a new one)."""
    if not db.execute(dialect.table_exists, ("meta",)).fetchone():
        return None
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else None


def check_current(db: Transaction, dialect: Dialect, where: str) -> None:
    """A store opened read-only (a dry run) cannot be migrated: refuse one of another version."""
    version = stored_version(db, dialect)
    if version is None:
        # A SQLite file that does not exist yet reads as empty; a database is created by its admin.
        raise StateError(
            f"the state store {where} holds no state tables yet; run `email-wiki-bridge check` or "
            "`once` to create them before a dry run"
        )
    if version != SCHEMA_VERSION:
        raise StateError(
            f"the state store {where} has schema version {version}, this bridge reads version "
            f"{SCHEMA_VERSION}; run `email-wiki-bridge once` to bring it up to date before a dry run"
        )


def migrate(db: Transaction, dialect: Dialect, where: str) -> None:
    """Bring the store `where` to `SCHEMA_VERSION` within the transaction `db` (a new one is created whole).

    A store of a newer version than this bridge knows is refused with a `StateError`.
    """
    if dialect.migration_lock:
        db.execute(dialect.migration_lock)
    version = stored_version(db, dialect)
    if version is not None and version > SCHEMA_VERSION:
        raise StateError(
            f"the state store {where} has schema version {version}, "
            f"this bridge knows versions up to {SCHEMA_VERSION}; upgrade the bridge"
        )
    for target in range((version or SCHEMA_VERSION) + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[target]:
            # A table an old store never had is created whole by SCHEMA below.
            table = statement.split()[2]
            if db.execute(dialect.table_exists, (table,)).fetchone():
                db.execute(dialect.ddl(statement))
    for statement in filter(None, (part.strip() for part in SCHEMA.split(";"))):
        db.execute(dialect.ddl(statement))
    if dialect.row_order_columns is not None:
        for table in ROW_ORDERED:
            db.execute(dialect.row_order_columns(table))
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (str(SCHEMA_VERSION),),
    )
