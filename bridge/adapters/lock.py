"""One process per state store: an exclusive `flock` on the lock file next to the state file.

`once`, `run`, `backfill` and `state rebuild` hold the lock while they run; a second such process
is refused with a sentence naming the holder (pid, host, command, since when), or waits for it
(`once --wait`). Reading commands (`status`, `failures list`, `quarantine list`) do not take it.
The kernel drops the lock when its process ends, however it ends, so a lock file left behind by
a killed process never blocks anybody; its record only tells who held it last.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

from bridge.errors import StateError

_RECORD_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class LockHolder:
    """The process holding the state lock, as it recorded itself in the lock file."""

    pid: int
    host: str
    command: str
    since: str

    def describe(self) -> str:
        """Return the holder as a phrase: `process 812 on host1 (email-wiki-bridge run, since …)`."""
        return f"process {self.pid} on {self.host} ({self.command}, since {self.since})"


def lock_path(state_path: Path) -> Path:
    """Return the lock file that guards `state_path`."""
    return state_path.with_name(state_path.name + ".lock")


def _read_holder(fd: int) -> LockHolder | None:
    try:
        data = json.loads(os.pread(fd, _RECORD_LIMIT, 0).decode("utf-8"))
        return LockHolder(int(data["pid"]), str(data["host"]), str(data["command"]), str(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        # Being written this very moment, or written by something else: the caller says so.
        return None


def _describe(holder: LockHolder | None) -> str:
    return holder.describe() if holder else "another process (which has not recorded itself yet)"


class StateLock:
    """The exclusive lock on one state store, held from `acquire` until `release` (or exit)."""

    def __init__(self, state_path: Path, command: str) -> None:
        self.state_path = state_path
        self.path = lock_path(state_path)
        self.command = command
        self._fd: int | None = None

    def acquire(self, wait: bool = False, waiting: Callable[[str], None] | None = None) -> None:
        """Take the lock; raise `StateError` naming the holder when it is taken (unless `wait`).

        With `wait`, `waiting` is told who holds it before this blocks until it is free.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StateError(f"cannot open the lock file {self.path}: {exc.strerror or exc}") from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _describe(_read_holder(fd))
                if not wait:
                    raise StateError(
                        f"the state store {self.state_path} is in use by {holder}; only one process may "
                        "work on it at a time: wait until it is done, stop it, or use `once --wait`"
                    ) from None
                if waiting is not None:
                    waiting(holder)
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._record(fd)
        except BaseException:
            os.close(fd)  # closing drops the lock, if it was taken
            raise
        self._fd = fd

    def _record(self, fd: int) -> None:
        holder = LockHolder(
            pid=os.getpid(),
            host=socket.gethostname(),
            command=self.command,
            since=datetime.now().astimezone().isoformat(timespec="seconds"),
        )
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(asdict(holder)).encode(), 0)
            os.fsync(fd)
        except OSError as exc:
            raise StateError(
                f"cannot write the lock file {self.path}: {exc.strerror or exc} "
                "(is the disk holding the state full?)"
            ) from exc

    def release(self) -> None:
        """Drop the lock (and the record of this process) if it is held."""
        if self._fd is None:
            return
        # The record only informs; the lock itself goes with the descriptor.
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> StateLock:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.release()
