"""The state store: what was read from each folder and what was published where.

`StateStore` is the interface the orchestrator uses; `SqliteStateStore` is the embedded default
(one file, WAL journal, schema version in `meta`). Every look-up is by index over the ids of the
current batch, so the cost of a pass does not grow with the mailbox's history.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from bridge.adapters.state.file import check_file, create_file, sqlite_fault
from bridge.adapters.state.parts import ThreadPartLedger, ThreadPartTables
from bridge.adapters.state.replies import ReplyLedger, ReplyTables
from bridge.core.model import FolderPosition
from bridge.core.retry import RetryPolicy
from bridge.core.threads import KnownSubject
from bridge.errors import StateError

SCHEMA_VERSION = 4
_CHUNK = 500  # stays well below SQLite's bound-parameter limit

_SCHEMA = """
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
    merge_note TEXT CHECK (merge_note IN ('pending', 'done'))
);
CREATE UNIQUE INDEX IF NOT EXISTS threads_page ON threads (page_title);
CREATE INDEX IF NOT EXISTS threads_candidate ON threads (candidate_title);
CREATE TABLE IF NOT EXISTS messages (
    mailbox TEXT NOT NULL, message_id TEXT NOT NULL,
    thread_id INTEGER NOT NULL REFERENCES threads (id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'done')),
    folder TEXT NOT NULL, uid INTEGER NOT NULL,
    revision INTEGER, published_at TEXT,
    mail_action TEXT CHECK (mail_action IN ('pending', 'done')),
    content_hash TEXT, raw_size INTEGER,
    PRIMARY KEY (mailbox, message_id)
);
CREATE INDEX IF NOT EXISTS messages_mail_action ON messages (mailbox, folder) WHERE mail_action = 'pending';
CREATE INDEX IF NOT EXISTS messages_pending ON messages (mailbox, status) WHERE status = 'pending';
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
    kind TEXT NOT NULL CHECK (kind IN ('link', 'refusal')),
    thread_id INTEGER,
    status TEXT NOT NULL
        CHECK (status IN ('intended', 'sending', 'sent', 'suppressed', 'uncertain', 'refused')),
    reason TEXT, created_at TEXT NOT NULL, sent_at TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    payload BLOB,
    PRIMARY KEY (mailbox, message_id, recipient, kind)
);
CREATE INDEX IF NOT EXISTS replies_recipient ON replies (recipient, created_at);
CREATE INDEX IF NOT EXISTS replies_thread ON replies (mailbox, thread_id, recipient);
CREATE INDEX IF NOT EXISTS replies_open ON replies (mailbox, status) WHERE status IN ('intended', 'sending');
CREATE TABLE IF NOT EXISTS reply_drafts (
    mailbox TEXT NOT NULL, message_id TEXT NOT NULL, recipient TEXT NOT NULL,
    seed TEXT NOT NULL, reason TEXT, created_at TEXT NOT NULL,
    PRIMARY KEY (mailbox, message_id)
);
CREATE TABLE IF NOT EXISTS quarantine (
    mailbox TEXT NOT NULL, message_id TEXT NOT NULL,
    folder TEXT NOT NULL, uidvalidity INTEGER NOT NULL, uid INTEGER NOT NULL,
    sender TEXT NOT NULL, subject TEXT NOT NULL, reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('quarantined', 'released')),
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
    link TEXT NOT NULL CHECK (link IN ('pending', 'done'))
);
CREATE INDEX IF NOT EXISTS thread_parts_link ON thread_parts (link) WHERE link = 'pending';
CREATE TABLE IF NOT EXISTS passes (
    mailbox TEXT PRIMARY KEY, last_success TEXT, last_error TEXT, last_error_at TEXT, backlog INTEGER
);
CREATE TABLE IF NOT EXISTS wiki_checks (
    mailbox TEXT PRIMARY KEY, page_prefix TEXT NOT NULL, checked_at TEXT NOT NULL
);
"""


# Upgrades of an existing store, by the version they lead to; fresh stores get _SCHEMA directly.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (
        "ALTER TABLE threads ADD COLUMN merged_into INTEGER REFERENCES threads (id)",
        "ALTER TABLE threads ADD COLUMN merge_note TEXT CHECK (merge_note IN ('pending', 'done'))",
    ),
    3: (
        "ALTER TABLE messages ADD COLUMN mail_action TEXT CHECK (mail_action IN ('pending', 'done'))",
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
}


@dataclass(frozen=True, slots=True)
class PendingMergeNote:
    """A thread merged into an older one whose page still lacks the note pointing there."""

    thread_id: int
    page_title: str
    into_title: str


@dataclass(frozen=True, slots=True)
class MailboxStatus:
    """What `email-wiki-bridge status` shows for one mailbox."""

    mailbox: str
    last_success: str | None
    last_error: str | None
    last_error_at: str | None
    backlog: int | None
    pages: int
    published: int
    quarantined: int
    failed: int
    parked: int


@dataclass(frozen=True, slots=True)
class QuarantinedMail:
    """A mail the sender policy kept off the wiki."""

    mailbox: str
    message_id: str
    folder: str
    uidvalidity: int
    uid: int
    sender: str
    subject: str
    reason: str
    status: str
    created_at: str
    content_hash: str | None = None
    raw_size: int | None = None


@dataclass(frozen=True, slots=True)
class PendingMessage:
    """A message whose wiki write was intended but not confirmed (a pass was cut short)."""

    message_id: str
    thread_id: int
    page_title: str
    page_confirmed: bool


@dataclass(frozen=True, slots=True)
class IntendedMessage:
    """What the store needs to know of a message before its wiki write."""

    message_id: str
    linked_ids: tuple[str, ...]
    folder: str
    uid: int
    content_hash: str | None = None
    raw_size: int | None = None


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the store knows of a published mail's content (None for mail published before v4)."""

    content_hash: str | None
    raw_size: int | None
    held: bool = False  # in quarantine, not published


@dataclass(frozen=True, slots=True)
class Failure:
    """A mail that could not be published, kept in its mailbox, with the reason."""

    mailbox: str
    folder: str
    uidvalidity: int
    uid: int
    message_id: str | None
    reason: str
    attempts: int
    first_seen: str
    last_seen: str
    next_attempt_at: str | None
    parked: bool


@dataclass(frozen=True, slots=True)
class LedgerMessage:
    """A published message found on the wiki by its marker (`state rebuild`), with its mail's links."""

    message_id: str
    linked_ids: tuple[str, ...] = ()
    folder: str = ""
    uid: int = 0
    # The mail is still in a read folder and `after_publish` must still flag or move it.
    mail_action: bool = False


@dataclass(frozen=True, slots=True)
class LedgerPage:
    """A thread page found on the wiki: its messages and the page its conversation continues on."""

    title: str
    revision: int
    messages: tuple[LedgerMessage, ...]
    merged_into: str | None = None
    # The next part of a long thread (a continuation page): later mail goes there.
    continued_on: str | None = None


class StateStore(ReplyLedger, ThreadPartLedger, Protocol):
    """What the orchestrator needs from a state store (SQLite now, PostgreSQL later)."""

    def folder_position(self, mailbox: str, folder: str) -> FolderPosition | None: ...
    def save_folder_position(self, mailbox: str, folder: str, position: FolderPosition) -> None: ...
    def known_message_ids(self, mailbox: str, ids: Iterable[str]) -> set[str]: ...
    def fingerprints(self, mailbox: str, ids: Iterable[str]) -> dict[str, Fingerprint]: ...
    def threads_for_ids(self, mailbox: str, ids: Iterable[str]) -> dict[str, int]: ...
    def known_subjects(self, mailbox: str, keys: Iterable[str]) -> dict[str, KnownSubject]: ...
    def record_subject(self, mailbox: str, key: str, thread_id: int, last_date: datetime) -> None: ...
    def mark_merged(self, thread_id: int, into: int) -> None: ...
    def merge_target(self, thread_id: int) -> int: ...
    def pending_merge_notes(self, mailbox: str) -> list[PendingMergeNote]: ...
    def merge_note_done(self, thread_id: int) -> None: ...
    def thread_page(self, thread_id: int) -> str | None: ...
    def title_taken(self, title: str) -> bool: ...
    def titles_taken(self, base: str) -> set[str]: ...
    def new_thread(self, mailbox: str, candidate_title: str) -> int: ...
    def set_candidate_title(self, thread_id: int, title: str) -> None: ...
    def record_intent(self, mailbox: str, thread_id: int, messages: Sequence[IntendedMessage]) -> None: ...
    def confirm(
        self,
        mailbox: str,
        thread_id: int,
        page_title: str,
        ids: Sequence[str],
        revision: int,
        mail_action: bool = False,
    ) -> None: ...
    def pending_mail_actions(self, mailbox: str, folder: str) -> list[int]: ...
    def mail_actions_done(self, mailbox: str, folder: str, uids: Sequence[int]) -> None: ...
    def unhook_mail_actions(self, mailbox: str, folder: str) -> int: ...
    def relocate_mail_actions(self, mailbox: str, folder: str, uids_by_id: Mapping[str, int]) -> None: ...
    def quarantine_mail(self, entry: QuarantinedMail) -> None: ...
    def quarantined(self, mailbox: str | None = None, status: str | None = None) -> list[QuarantinedMail]: ...
    def release(self, mailbox: str, message_id: str, folder: str, uidvalidity: int, uid: int) -> None: ...
    def quarantine_status(self, mailbox: str, ids: Iterable[str]) -> dict[str, str]: ...
    def pending_messages(self, mailbox: str) -> list[PendingMessage]: ...
    def discard_pending(self, mailbox: str, ids: Sequence[str]) -> None: ...
    def record_failure(
        self,
        mailbox: str,
        folder: str,
        uidvalidity: int,
        uid: int,
        message_id: str | None,
        reason: str,
        policy: RetryPolicy,
    ) -> int: ...
    def retry_failures(self, mailbox: str, message_id: str | None = None) -> int: ...
    def clear_failures(self, mailbox: str, places: Iterable[tuple[str, int, int]]) -> None: ...
    def failures(self, mailbox: str, folder: str | None = None) -> list[Failure]: ...
    def record_pass(self, mailbox: str, error: str | None, backlog: int | None = None) -> None: ...
    def mailbox_status(self, mailbox: str) -> MailboxStatus: ...
    def has_ledger(self, mailbox: str) -> bool: ...
    def known_anywhere(self, ids: Iterable[str]) -> set[str]: ...
    def wiki_checked(self, mailbox: str, page_prefix: str) -> bool: ...
    def record_wiki_check(self, mailbox: str, page_prefix: str) -> None: ...
    def import_ledger(self, mailbox: str, pages: Sequence[LedgerPage]) -> int: ...
    def close(self) -> None: ...


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


class SqliteStateStore(ReplyTables, ThreadPartTables):
    """The embedded state store: one SQLite file, created with mode 0600."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        """Open (or create) the store at `path`; `read_only` opens it for a dry run, which writes nothing.

        Read-only, a missing file reads as an empty store (held in memory), and any write fails.
        """
        self.path = path
        try:
            # A missing file is created; a damaged one is reported, never silently recreated.
            exists = check_file(path)
            if read_only:
                # Without a write-ahead log (no writer, all checkpointed) the file is all there is:
                # read as immutable, SQLite creates no -wal and -shm files next to it either.
                wal = path.with_name(path.name + "-wal").exists()
                target = (
                    f"{path.resolve().as_uri()}?{'mode=ro' if wal else 'immutable=1'}"
                    if exists
                    else ":memory:"
                )
                self._db = sqlite3.connect(target, uri=True, isolation_level=None, check_same_thread=False)
            else:
                if not exists:
                    create_file(path)
                self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        except OSError as exc:
            raise StateError(f"cannot create the state store {path}: {exc.strerror or exc}") from exc
        except sqlite3.Error as exc:
            raise sqlite_fault(path, exc) or StateError(f"cannot open the state store {path}: {exc}") from exc
        # Scheduler jobs of several mailboxes share this connection; one statement group at a time.
        self._lock = threading.RLock()
        try:
            if read_only and exists:
                self._check_current(path)
            else:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA foreign_keys=ON")
                self._migrate(path)
            if read_only:
                self._db.execute("PRAGMA query_only=ON")
        except sqlite3.Error as exc:
            self._db.close()
            raise sqlite_fault(path, exc) or StateError(f"cannot open the state store {path}: {exc}") from exc

    def _check_current(self, path: Path) -> None:
        """A store opened read-only cannot be migrated: it must have the current schema."""
        version = self._stored_version()
        if version != SCHEMA_VERSION:
            self._db.close()
            raise StateError(
                f"the state store {path} has schema version {version}, this bridge reads version "
                f"{SCHEMA_VERSION}; run `email-wiki-bridge once` to bring it up to date before a dry run"
            )

    def _migrate(self, path: Path) -> None:
        with self._lock:
            version = self._stored_version()
            if version is not None and version > SCHEMA_VERSION:
                self._db.close()
                raise StateError(
                    f"the state store {path} has schema version {version}, "
                    f"this bridge knows versions up to {SCHEMA_VERSION}; upgrade the bridge"
                )
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for target in range((version or SCHEMA_VERSION) + 1, SCHEMA_VERSION + 1):
                    for statement in _MIGRATIONS[target]:
                        # A table an old store never had is created whole by _SCHEMA below.
                        table = statement.split()[2]
                        if self._db.execute(
                            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
                        ).fetchone():
                            self._db.execute(statement)
                for statement in filter(None, (part.strip() for part in _SCHEMA.split(";"))):
                    self._db.execute(statement)
                self._db.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(SCHEMA_VERSION),),
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _stored_version(self) -> int | None:
        if not self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone():
            return None
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._faults():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # A full disk may have ended the transaction already (SQLite rolls back itself).
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        with self._lock, self._faults():
            return list(self._db.execute(sql, params).fetchall())

    @contextmanager
    def _faults(self) -> Iterator[None]:
        """Turn a full disk, a damaged file or an I/O error into a `StateError` that says so."""
        try:
            yield
        except sqlite3.Error as exc:
            error = sqlite_fault(self.path, exc)
            if error is None:
                raise
            raise error from exc

    def folder_position(self, mailbox: str, folder: str) -> FolderPosition | None:
        """Return where reading `folder` stopped, or None when it was never read."""
        rows = self._query(
            "SELECT uidvalidity, last_uid FROM folders WHERE mailbox = ? AND folder = ?", (mailbox, folder)
        )
        if not rows:
            return None
        uidvalidity, last_uid = rows[0]
        return FolderPosition(uidvalidity=int(str(uidvalidity)), last_uid=int(str(last_uid)))

    def save_folder_position(self, mailbox: str, folder: str, position: FolderPosition) -> None:
        """Remember the UIDVALIDITY and highest handled UID of `folder`."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO folders (mailbox, folder, uidvalidity, last_uid) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (mailbox, folder) DO UPDATE SET uidvalidity = excluded.uidvalidity, "
                "last_uid = excluded.last_uid",
                (mailbox, folder, position.uidvalidity, position.last_uid),
            )

    def known_message_ids(self, mailbox: str, ids: Iterable[str]) -> set[str]:
        """Return those of `ids` that are already published or being published for `mailbox`."""
        found: set[str] = set()
        for chunk in _chunks(sorted(set(ids))):
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT message_id FROM messages WHERE mailbox = ? AND message_id IN ({marks})",  # noqa: S608 - only placeholders are interpolated
                (mailbox, *chunk),
            )
            found.update(str(row[0]) for row in rows)
        return found

    def fingerprints(self, mailbox: str, ids: Iterable[str]) -> dict[str, Fingerprint]:
        """Return content hash and raw size of those of `ids` that are published, being published
        or held in quarantine: another mail under such an id is a copy or a variant of that one.
        """
        found: dict[str, Fingerprint] = {}
        for chunk in _chunks(sorted(set(ids))):
            marks = ",".join("?" * len(chunk))
            # Quarantined rows first, so a published row of the same id overrides them below.
            rows = self._query(
                f"SELECT message_id, content_hash, raw_size, 1 FROM quarantine "  # noqa: S608 - only placeholders are interpolated
                f"WHERE mailbox = ? AND status = 'quarantined' AND message_id IN ({marks}) "
                f"UNION ALL SELECT message_id, content_hash, raw_size, 0 FROM messages "
                f"WHERE mailbox = ? AND message_id IN ({marks})",
                (mailbox, *chunk, mailbox, *chunk),
            )
            for message_id, digest, size, held in rows:
                found[str(message_id)] = Fingerprint(
                    None if digest is None else str(digest),
                    None if size is None else int(str(size)),
                    bool(held),
                )
        return found

    def threads_for_ids(self, mailbox: str, ids: Iterable[str]) -> dict[str, int]:
        """Map those of `ids` that a known thread contains or references to that thread.

        A thread merged into an older one resolves to the older one, where its mail now goes.
        """
        found: dict[str, int] = {}
        for chunk in _chunks(sorted(set(ids))):
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT linked_id, thread_id FROM thread_links WHERE mailbox = ? AND linked_id IN ({marks})",  # noqa: S608 - only placeholders are interpolated
                (mailbox, *chunk),
            )
            found.update((str(linked), int(str(thread))) for linked, thread in rows)
        resolved = {thread: self.merge_target(thread) for thread in set(found.values())}
        return {linked: resolved[thread] for linked, thread in found.items()}

    def merge_target(self, thread_id: int) -> int:
        """Return the thread whose page `thread_id`'s mail goes to now (itself unless merged)."""
        seen = {thread_id}
        while True:
            rows = self._query("SELECT merged_into FROM threads WHERE id = ?", (thread_id,))
            if not rows or rows[0][0] is None or int(str(rows[0][0])) in seen:
                return thread_id
            thread_id = int(str(rows[0][0]))
            seen.add(thread_id)

    def known_subjects(self, mailbox: str, keys: Iterable[str]) -> dict[str, KnownSubject]:
        """Return, per subject key, the newest thread with that subject and its last message's date."""
        found: dict[str, KnownSubject] = {}
        for chunk in _chunks(sorted(set(keys))):
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT subject_key, thread_id, last_date FROM thread_subjects WHERE mailbox = ? AND subject_key IN ({marks})",  # noqa: S608, E501 - only placeholders are interpolated
                (mailbox, *chunk),
            )
            for key, thread, last_date in rows:
                found[str(key)] = KnownSubject(
                    self.merge_target(int(str(thread))), datetime.fromisoformat(str(last_date))
                )
        return found

    def record_subject(self, mailbox: str, key: str, thread_id: int, last_date: datetime) -> None:
        """Remember the latest activity of a thread under its subject key (for subject joining)."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO thread_subjects (mailbox, subject_key, thread_id, last_date) "
                "VALUES (?, ?, ?, ?) "
                "ON CONFLICT (mailbox, subject_key) DO UPDATE SET thread_id = excluded.thread_id, "
                "last_date = excluded.last_date WHERE excluded.last_date >= thread_subjects.last_date",
                (mailbox, key, thread_id, last_date.astimezone(UTC).isoformat()),
            )

    def mark_merged(self, thread_id: int, into: int) -> None:
        """Record that `thread_id` continues on the page of `into`; its page still needs the note."""
        with self._transaction() as db:
            db.execute(
                "UPDATE threads SET merged_into = ?, merge_note = 'pending' "
                "WHERE id = ? AND merged_into IS NULL",
                (into, thread_id),
            )

    def pending_merge_notes(self, mailbox: str) -> list[PendingMergeNote]:
        """Return merged threads whose page does not have its note yet."""
        rows = self._query(
            "SELECT t.id, t.page_title, o.page_title FROM threads t JOIN threads o ON o.id = t.merged_into "
            "WHERE t.mailbox = ? AND t.merge_note = 'pending' AND t.page_title IS NOT NULL "
            "AND o.page_title IS NOT NULL ORDER BY t.id",
            (mailbox,),
        )
        return [PendingMergeNote(int(str(r[0])), str(r[1]), str(r[2])) for r in rows]

    def merge_note_done(self, thread_id: int) -> None:
        """Record that the merged thread's page carries its note."""
        with self._transaction() as db:
            db.execute("UPDATE threads SET merge_note = 'done' WHERE id = ?", (thread_id,))

    def thread_page(self, thread_id: int) -> str | None:
        """Return the confirmed page title of a thread, or None while it has no page yet."""
        rows = self._query("SELECT page_title FROM threads WHERE id = ?", (thread_id,))
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    def title_taken(self, title: str) -> bool:
        """Tell whether any thread has, or is about to create, a page of this title."""
        rows = self._query(
            "SELECT 1 FROM threads WHERE page_title = ? OR candidate_title = ? LIMIT 1", (title, title)
        )
        return bool(rows)

    def titles_taken(self, base: str) -> set[str]:
        """Return the titles in use that are `base` or `base (…)` (its disambiguated siblings)."""
        # "(" sorts just before ")": the range holds exactly the titles starting with "base (".
        low, high = f"{base} (", f"{base} )"
        rows = self._query(
            "SELECT page_title FROM threads WHERE page_title = ? OR (page_title >= ? AND page_title < ?) "
            "UNION SELECT candidate_title FROM threads WHERE candidate_title = ? "
            "OR (candidate_title >= ? AND candidate_title < ?)",
            (base, low, high, base, low, high),
        )
        return {str(row[0]) for row in rows if row[0] is not None}

    def new_thread(self, mailbox: str, candidate_title: str) -> int:
        """Create a thread that will get a page, trying `candidate_title` first; return its id."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO threads (mailbox, candidate_title, created_at) VALUES (?, ?, ?)",
                (mailbox, candidate_title, _now()),
            )
            return int(cursor.lastrowid or 0)

    def set_candidate_title(self, thread_id: int, title: str) -> None:
        """Record the next title to try after the wiki refused the previous one (page exists)."""
        with self._transaction() as db:
            db.execute("UPDATE threads SET candidate_title = ? WHERE id = ?", (title, thread_id))

    def record_intent(self, mailbox: str, thread_id: int, messages: Sequence[IntendedMessage]) -> None:
        """Record, before the wiki write, that `messages` are about to be published on a thread."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO messages (mailbox, message_id, thread_id, status, folder, uid, content_hash, "
                "raw_size) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)",
                [
                    (mailbox, m.message_id, thread_id, m.folder, m.uid, m.content_hash, m.raw_size)
                    for m in messages
                ],
            )
            db.executemany(
                "INSERT OR IGNORE INTO thread_links (mailbox, linked_id, thread_id) VALUES (?, ?, ?)",
                [(mailbox, linked, thread_id) for m in messages for linked in (m.message_id, *m.linked_ids)],
            )

    def confirm(
        self,
        mailbox: str,
        thread_id: int,
        page_title: str,
        ids: Sequence[str],
        revision: int,
        mail_action: bool = False,
    ) -> None:
        """Record that the wiki holds `ids` on `page_title` at `revision`.

        With `mail_action`, the mails are marked for their after-publish flag or move, which may
        only happen now that the wiki write is confirmed.
        """
        with self._transaction() as db:
            db.execute("UPDATE threads SET page_title = ? WHERE id = ?", (page_title, thread_id))
            db.executemany(
                "UPDATE messages SET status = 'done', revision = ?, published_at = ?, mail_action = ? "
                "WHERE mailbox = ? AND message_id = ?",
                [(revision, _now(), "pending" if mail_action else None, mailbox, mid) for mid in ids],
            )

    def pending_mail_actions(self, mailbox: str, folder: str) -> list[int]:
        """Return the UIDs in `folder` whose after-publish flag or move is still to do."""
        rows = self._query(
            "SELECT uid FROM messages WHERE mailbox = ? AND folder = ? AND mail_action = 'pending' "
            "AND uid > 0 ORDER BY uid",
            (mailbox, folder),
        )
        return [int(str(row[0])) for row in rows]

    def unhook_mail_actions(self, mailbox: str, folder: str) -> int:
        """Detach pending actions from UIDs of a folder the server renumbered (UIDVALIDITY).

        Their old UIDs may name other mail now; `relocate_mail_actions` gives them the new ones
        as the rescan meets the mail again. Returns how many are waiting.
        """
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE messages SET uid = 0 WHERE mailbox = ? AND folder = ? AND mail_action = 'pending'",
                (mailbox, folder),
            )
            return int(cursor.rowcount)

    def relocate_mail_actions(self, mailbox: str, folder: str, uids_by_id: Mapping[str, int]) -> None:
        """Give detached pending actions the UIDs their mail has after a renumbering."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE messages SET uid = ? WHERE mailbox = ? AND folder = ? AND message_id = ? "
                "AND mail_action = 'pending' AND uid = 0",
                [(uid, mailbox, folder, message_id) for message_id, uid in uids_by_id.items()],
            )

    def mail_actions_done(self, mailbox: str, folder: str, uids: Sequence[int]) -> None:
        """Record that the after-publish action of these mails is done."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE messages SET mail_action = 'done' WHERE mailbox = ? AND folder = ? AND uid = ? "
                "AND mail_action = 'pending'",
                [(mailbox, folder, uid) for uid in uids],
            )

    def quarantine_mail(self, entry: QuarantinedMail) -> None:
        """Record a mail the sender policy refused (idempotent)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO quarantine "
                "(mailbox, message_id, folder, uidvalidity, uid, sender, subject, "
                "reason, status, created_at, content_hash, raw_size) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'quarantined', ?, ?, ?)",
                (
                    entry.mailbox,
                    entry.message_id,
                    entry.folder,
                    entry.uidvalidity,
                    entry.uid,
                    entry.sender,
                    entry.subject,
                    entry.reason,
                    _now(),
                    entry.content_hash,
                    entry.raw_size,
                ),
            )

    def quarantined(self, mailbox: str | None = None, status: str | None = None) -> list[QuarantinedMail]:
        """Return quarantined (and released) mails, of one mailbox when given."""
        rows = self._query(
            "SELECT mailbox, message_id, folder, uidvalidity, uid, sender, subject, reason, status, "
            "created_at "
            "FROM quarantine WHERE (? IS NULL OR mailbox = ?) AND (? IS NULL OR status = ?) "
            "ORDER BY created_at, uid",
            (mailbox, mailbox, status, status),
        )
        return [
            QuarantinedMail(
                mailbox=str(r[0]),
                message_id=str(r[1]),
                folder=str(r[2]),
                uidvalidity=int(str(r[3])),
                uid=int(str(r[4])),
                sender=str(r[5]),
                subject=str(r[6]),
                reason=str(r[7]),
                status=str(r[8]),
                created_at=str(r[9]),
            )
            for r in rows
        ]

    def release(self, mailbox: str, message_id: str, folder: str, uidvalidity: int, uid: int) -> None:
        """Mark a quarantined mail released, now at (`folder`, `uid`), so the next pass publishes it."""
        with self._transaction() as db:
            db.execute(
                "UPDATE quarantine SET status = 'released', folder = ?, uidvalidity = ?, uid = ? "
                "WHERE mailbox = ? AND message_id = ?",
                (folder, uidvalidity, uid, mailbox, message_id),
            )

    def quarantine_status(self, mailbox: str, ids: Iterable[str]) -> dict[str, str]:
        """Return `quarantined` or `released` for those of `ids` that the policy refused once."""
        found: dict[str, str] = {}
        for chunk in _chunks(sorted(set(ids))):
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT message_id, status FROM quarantine WHERE mailbox = ? AND message_id IN ({marks})",  # noqa: S608 - only placeholders are interpolated
                (mailbox, *chunk),
            )
            found.update((str(mid), str(status)) for mid, status in rows)
        return found

    def pending_messages(self, mailbox: str) -> list[PendingMessage]:
        """Return the messages whose wiki write is intended but unconfirmed."""
        rows = self._query(
            "SELECT m.message_id, m.thread_id, COALESCE(t.page_title, t.candidate_title), "
            "t.page_title IS NOT NULL FROM messages m JOIN threads t ON t.id = m.thread_id "
            "WHERE m.mailbox = ? AND m.status = 'pending' ORDER BY m.thread_id",
            (mailbox,),
        )
        return [
            PendingMessage(str(mid), int(str(tid)), str(title), bool(confirmed))
            for mid, tid, title, confirmed in rows
        ]

    def discard_pending(self, mailbox: str, ids: Sequence[str]) -> None:
        """Forget intents the wiki never carried out; their mail is fetched and published again.

        A thread left without any message (its page was never created) is removed with its links.
        """
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM messages WHERE mailbox = ? AND message_id = ? AND status = 'pending'",
                [(mailbox, message_id) for message_id in ids],
            )
            orphaned = (
                "SELECT id FROM threads t WHERE mailbox = ? AND NOT EXISTS "
                "(SELECT 1 FROM messages m WHERE m.thread_id = t.id)"
            )
            db.execute(f"DELETE FROM thread_links WHERE thread_id IN ({orphaned})", (mailbox,))  # noqa: S608 - constant SQL
            db.execute(f"DELETE FROM threads WHERE id IN ({orphaned})", (mailbox,))  # noqa: S608 - constant SQL

    def record_failure(
        self,
        mailbox: str,
        folder: str,
        uidvalidity: int,
        uid: int,
        message_id: str | None,
        reason: str,
        policy: RetryPolicy,
    ) -> int:
        """Record (or count again) a mail that could not be published; return its attempts so far.

        The policy sets when it is tried again, and parks it after its last automatic try.
        """
        now = datetime.now(UTC)
        stamp = now.isoformat(timespec="seconds")
        with self._transaction() as db:
            row = db.execute(
                "SELECT attempts FROM failures "
                "WHERE mailbox = ? AND folder = ? AND uidvalidity = ? AND uid = ?",
                (mailbox, folder, uidvalidity, uid),
            ).fetchone()
            attempts = (int(row[0]) if row else 0) + 1
            next_attempt = policy.next_attempt(attempts, now).isoformat(timespec="seconds")
            db.execute(
                "INSERT INTO failures (mailbox, folder, uidvalidity, uid, message_id, reason, attempts, "
                "first_seen, last_seen, next_attempt_at, parked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (mailbox, folder, uidvalidity, uid) DO UPDATE SET reason = excluded.reason, "
                "message_id = COALESCE(excluded.message_id, message_id), attempts = excluded.attempts, "
                "last_seen = excluded.last_seen, next_attempt_at = excluded.next_attempt_at, "
                "parked = excluded.parked",
                (
                    mailbox,
                    folder,
                    uidvalidity,
                    uid,
                    message_id,
                    reason,
                    attempts,
                    stamp,
                    stamp,
                    next_attempt,
                    int(policy.parks(attempts)),
                ),
            )
        return attempts

    def retry_failures(self, mailbox: str, message_id: str | None = None) -> int:
        """Make failed mail of a mailbox (all, or one Message-ID) due on the next pass, parked or not.

        Attempts are kept: a mail that fails again after its last automatic try is parked again.
        """
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE failures SET parked = 0, next_attempt_at = NULL "
                "WHERE mailbox = ? AND (? IS NULL OR message_id = ?)",
                (mailbox, message_id, message_id),
            )
            return cursor.rowcount

    def clear_failures(self, mailbox: str, places: Iterable[tuple[str, int, int]]) -> None:
        """Forget the failures at these (folder, UIDVALIDITY, UID) places: published or duplicates now.

        One transaction for a whole batch, so a rescan of a large folder costs no write per mail.
        """
        rows = [(mailbox, folder, uidvalidity, uid) for folder, uidvalidity, uid in places]
        if not rows:
            return
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM failures WHERE mailbox = ? AND folder = ? AND uidvalidity = ? AND uid = ?", rows
            )

    def failures(self, mailbox: str, folder: str | None = None) -> list[Failure]:
        """Return the recorded failures of a mailbox (of one folder when given), oldest first."""
        rows = self._query(
            "SELECT mailbox, folder, uidvalidity, uid, message_id, reason, attempts, first_seen, last_seen, "
            "next_attempt_at, parked FROM failures WHERE mailbox = ? AND (? IS NULL OR folder = ?) "
            "ORDER BY first_seen, uid",
            (mailbox, folder, folder),
        )
        return [
            Failure(
                mailbox=str(r[0]),
                folder=str(r[1]),
                uidvalidity=int(str(r[2])),
                uid=int(str(r[3])),
                message_id=None if r[4] is None else str(r[4]),
                reason=str(r[5]),
                attempts=int(str(r[6])),
                first_seen=str(r[7]),
                last_seen=str(r[8]),
                next_attempt_at=None if r[9] is None else str(r[9]),
                parked=bool(r[10]),
            )
            for r in rows
        ]

    def record_pass(self, mailbox: str, error: str | None, backlog: int | None = None) -> None:
        """Record the outcome of a pass: its time and backlog on success, the error sentence otherwise."""
        now = _now()
        with self._transaction() as db:
            if error is None:
                db.execute(
                    "INSERT INTO passes (mailbox, last_success, backlog) VALUES (?, ?, ?) "
                    "ON CONFLICT (mailbox) DO UPDATE SET last_success = excluded.last_success, "
                    "backlog = excluded.backlog",
                    (mailbox, now, backlog),
                )
            else:
                db.execute(
                    "INSERT INTO passes (mailbox, last_error, last_error_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (mailbox) DO UPDATE SET last_error = excluded.last_error, "
                    "last_error_at = excluded.last_error_at",
                    (mailbox, error, now),
                )

    def mailbox_status(self, mailbox: str) -> MailboxStatus:
        """Summarise a mailbox for `status`: last pass, last error, backlog, pages, quarantine."""
        passes = self._query(
            "SELECT last_success, last_error, last_error_at, backlog FROM passes WHERE mailbox = ?",
            (mailbox,),
        )
        last_success, last_error, last_error_at, backlog = passes[0] if passes else (None, None, None, None)
        counts = self._query(
            "SELECT (SELECT COUNT(*) FROM threads WHERE mailbox = ? AND page_title IS NOT NULL), "
            "(SELECT COUNT(*) FROM messages WHERE mailbox = ? AND status = 'done'), "
            "(SELECT COUNT(*) FROM quarantine WHERE mailbox = ? AND status = 'quarantined'), "
            "(SELECT COUNT(*) FROM failures WHERE mailbox = ?), "
            "(SELECT COUNT(*) FROM failures WHERE mailbox = ? AND parked = 1)",
            (mailbox, mailbox, mailbox, mailbox, mailbox),
        )[0]
        return MailboxStatus(
            mailbox=mailbox,
            last_success=None if last_success is None else str(last_success),
            last_error=None if last_error is None else str(last_error),
            last_error_at=None if last_error_at is None else str(last_error_at),
            backlog=None if backlog is None else int(str(backlog)),
            pages=int(str(counts[0])),
            published=int(str(counts[1])),
            quarantined=int(str(counts[2])),
            failed=int(str(counts[3])),
            parked=int(str(counts[4])),
        )

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._db.close()

    # -- the ledger against the wiki (lost state, `state rebuild`) ------------------------------

    def has_ledger(self, mailbox: str) -> bool:
        """Tell whether the store records any message (published or being published) of `mailbox`."""
        return bool(self._query("SELECT 1 FROM messages WHERE mailbox = ? LIMIT 1", (mailbox,)))

    def known_anywhere(self, ids: Iterable[str]) -> set[str]:
        """Return those of `ids` that the store records for any mailbox."""
        found: set[str] = set()
        for chunk in _chunks(sorted(set(ids))):
            marks = ",".join("?" * len(chunk))
            rows = self._query(
                f"SELECT message_id FROM messages WHERE message_id IN ({marks})",  # noqa: S608 - only placeholders are interpolated
                chunk,
            )
            found.update(str(row[0]) for row in rows)
        return found

    def wiki_checked(self, mailbox: str, page_prefix: str) -> bool:
        """Tell whether this store checked the wiki under `page_prefix` for pages it does not know."""
        rows = self._query(
            "SELECT 1 FROM wiki_checks WHERE mailbox = ? AND page_prefix = ?", (mailbox, page_prefix)
        )
        return bool(rows)

    def record_wiki_check(self, mailbox: str, page_prefix: str) -> None:
        """Remember that the wiki under `page_prefix` holds nothing this store does not know."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO wiki_checks (mailbox, page_prefix, checked_at) VALUES (?, ?, ?) "
                "ON CONFLICT (mailbox) DO UPDATE SET page_prefix = excluded.page_prefix, "
                "checked_at = excluded.checked_at",
                (mailbox, page_prefix, _now()),
            )

    def import_ledger(self, mailbox: str, pages: Sequence[LedgerPage]) -> int:
        """Record as published the messages found on thread pages that the store does not know.

        Known messages (published or pending) and pages of other mailboxes stay as they are;
        a page's merge note becomes the thread's `merged_into`. Returns how many messages were added.
        """
        added = 0
        now = _now()
        with self._transaction() as db:
            threads: dict[str, int] = {}
            for page in pages:
                row = db.execute(
                    "SELECT id, mailbox FROM threads WHERE page_title = ?", (page.title,)
                ).fetchone()
                if row is not None and row[1] != mailbox:
                    continue
                if row is None:
                    cursor = db.execute(
                        "INSERT INTO threads (mailbox, page_title, candidate_title, created_at) "
                        "VALUES (?, ?, ?, ?)",
                        (mailbox, page.title, page.title, now),
                    )
                    threads[page.title] = int(cursor.lastrowid or 0)
                else:
                    threads[page.title] = int(row[0])
                for message in page.messages:
                    cursor = db.execute(
                        "INSERT OR IGNORE INTO messages (mailbox, message_id, thread_id, status, folder, "
                        "uid, revision, published_at, mail_action) VALUES (?, ?, ?, 'done', ?, ?, ?, ?, ?)",
                        (
                            mailbox,
                            message.message_id,
                            threads[page.title],
                            message.folder,
                            message.uid,
                            page.revision,
                            now,
                            "pending" if message.mail_action else None,
                        ),
                    )
                    added += cursor.rowcount
                    db.executemany(
                        "INSERT OR IGNORE INTO thread_links (mailbox, linked_id, thread_id) VALUES (?, ?, ?)",
                        [
                            (mailbox, linked, threads[page.title])
                            for linked in (message.message_id, *message.linked_ids)
                        ],
                    )
            for page in pages:
                # A continuation link wins over a merge note: the thread's mail goes to its last part.
                for target, note in ((page.continued_on, None), (page.merged_into, "done")):
                    if target is not None and page.title in threads and target in threads:
                        db.execute(
                            "UPDATE threads SET merged_into = ?, merge_note = ? "
                            "WHERE id = ? AND merged_into IS NULL",
                            (threads[target], note, threads[page.title]),
                        )
            # Continuation pages: each chain's parts are numbered from its first page on.
            following = {
                page.title: page.continued_on
                for page in pages
                if page.title in threads and page.continued_on in threads
            }
            for first in following.keys() - set(following.values()):
                previous, number = first, 1
                while (current := following.get(previous)) is not None and number <= len(following):
                    number += 1
                    db.execute(
                        "INSERT OR IGNORE INTO thread_parts (thread_id, first_id, previous_id, part, link) "
                        "VALUES (?, ?, ?, ?, 'done')",
                        (threads[current], threads[first], threads[previous], number),
                    )
                    previous = current
        return added
