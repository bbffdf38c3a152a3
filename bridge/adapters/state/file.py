"""The SQLite state file itself: new files created whole, damaged files reported, SQLite faults as sentences.

A state file that is missing is created (in a side file first, renamed into place once it is a
valid database, so a file of 0 bytes is never something the bridge left behind). A file that is
present but empty, cut short or not an SQLite database at all means the state was damaged: it is
reported with what to do, never silently recreated, since a fresh state would publish every mail
of the mailboxes again.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from bridge.errors import StateError

_MAGIC = b"SQLite format 3\x00"
_HEADER_SIZE = 100

# What an admin can do about a damaged state file.
_REMEDY = (
    "restore it from a backup, or move it away and run `email-wiki-bridge state rebuild --mailbox NAME` "
    "for each mailbox to rebuild it from the wiki"
)


def damaged(path: Path, what: str) -> StateError:
    """Return the error for a state file that exists but does not hold a whole state store."""
    return StateError(f"the state store {path} is damaged: {what}; it is not recreated: {_REMEDY}")


def check_file(path: Path) -> bool:
    """Tell whether the state file exists; raise `StateError` when it exists but is damaged.

    Reads only the 100-byte database header: an empty file, a file that does not start like an
    SQLite database, or one shorter than the page count its header declares (with no write-ahead
    log that could hold the rest) is damaged.
    """
    try:
        with path.open("rb") as handle:
            header = handle.read(_HEADER_SIZE)
            size = os.fstat(handle.fileno()).st_size
    except FileNotFoundError:
        return False
    except IsADirectoryError:
        raise StateError(f"the state store {path} is a directory, not a file; check state.path") from None
    except OSError as exc:
        raise StateError(f"cannot read the state store {path}: {exc.strerror}") from exc
    if size == 0:
        raise damaged(path, "the file is empty (0 bytes), it was truncated")
    if len(header) < _HEADER_SIZE or not header.startswith(_MAGIC):
        raise damaged(path, "the file is not an SQLite database")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    declared_pages = int.from_bytes(header[28:32], "big")
    # The declared page count is only maintained when "version-valid-for" matches the change counter.
    count_valid = header[24:28] == header[92:96]
    wal = path.with_name(path.name + "-wal")
    wal_holds_data = wal.exists() and wal.stat().st_size > 0
    if count_valid and declared_pages * page_size > size and not wal_holds_data:
        raise damaged(path, f"the file is cut short ({size} of {declared_pages * page_size} bytes)")
    return True


def create_file(path: Path) -> None:
    """Create an empty state database at `path`, readable by the owner only, in one rename.

    The database is made in a side file and renamed into place once it is valid, so a crash
    leaves either no state file or a whole one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    side = path.with_name(f".{path.name}.new-{os.getpid()}")
    side.unlink(missing_ok=True)
    # Created before SQLite opens it, so the file is never readable by others.
    os.close(os.open(side, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    try:
        db = sqlite3.connect(side, isolation_level=None)
        try:
            db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        finally:
            db.close()
        side.replace(path)
    except BaseException:
        side.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def sqlite_fault(path: Path, exc: sqlite3.Error) -> StateError | None:
    """Return the sentence for an SQLite fault of the file or the disk, None for anything else.

    Constraint violations and misuse are bugs and stay what they are.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    detail = str(exc)
    if primary == sqlite3.SQLITE_FULL:
        return StateError(
            f"the disk holding the state store {path} is full ({detail}); the pass stopped and nothing "
            "was lost: free some space, and the next pass goes on where this one stopped"
        )
    if primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return damaged(path, detail)
    if primary == sqlite3.SQLITE_IOERR:
        return StateError(
            f"the state store {path} cannot be read or written ({detail}); check the disk and "
            "free space; the pass stopped and nothing was lost"
        )
    if primary in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_CANTOPEN):
        return StateError(
            f"cannot write the state store {path} ({detail}); check the permissions of the file and "
            "its directory"
        )
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StateError(f"the state store {path} stayed locked by another process ({detail})")
    return None
