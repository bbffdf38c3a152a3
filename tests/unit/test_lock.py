"""The state lock: one process per state store, a refusal that names the holder, waiting, no stale locks."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bridge.adapters.lock import StateLock, lock_path
from bridge.errors import StateError

_HOLD = """
import sys
from pathlib import Path
from bridge.adapters.lock import StateLock
lock = StateLock(Path(sys.argv[1]), "email-wiki-bridge run")
lock.acquire()
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "state.sqlite3"


@contextmanager
def _holder_process(state_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock (until it is killed); yields once it holds it."""
    with subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(state_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "locked"
        try:
            yield process
        finally:
            process.send_signal(signal.SIGKILL)
            process.communicate()


def test_second_process_is_refused_with_the_holder_named(state_path: Path) -> None:
    """A second process is refused with the holder's pid, host, command and start time."""
    with _holder_process(state_path) as holder, pytest.raises(StateError) as refused:
        StateLock(state_path, "email-wiki-bridge once").acquire()
    message = str(refused.value)
    assert f"process {holder.pid} on {socket.gethostname()}" in message
    assert "email-wiki-bridge run" in message
    assert "since 20" in message
    assert str(state_path) in message
    assert "--wait" in message


def test_lock_of_a_killed_process_does_not_block(state_path: Path) -> None:
    """SIGKILL leaves the lock file behind, but not the lock: the next process takes it."""
    with _holder_process(state_path):
        pass  # killed on leaving
    assert lock_path(state_path).exists()
    with StateLock(state_path, "email-wiki-bridge once") as lock:
        lock.acquire()
        record = json.loads(lock_path(state_path).read_text())
        assert record["pid"] == os.getpid()
        assert record["command"] == "email-wiki-bridge once"


def test_lock_is_exclusive_within_one_process_too_and_free_after_release(state_path: Path) -> None:
    """Two holders in one process exclude each other; after release the lock is free and its record gone."""
    first = StateLock(state_path, "email-wiki-bridge run")
    first.acquire()
    with pytest.raises(StateError, match=f"process {os.getpid()}"):
        StateLock(state_path, "email-wiki-bridge backfill").acquire()
    first.release()
    assert lock_path(state_path).read_text() == ""
    second = StateLock(state_path, "email-wiki-bridge backfill")
    second.acquire()
    second.release()


def test_waiting_takes_the_lock_when_the_holder_lets_go(state_path: Path) -> None:
    """With `wait`, the waiter is told who holds the lock and gets it as soon as it is released."""
    first = StateLock(state_path, "email-wiki-bridge run")
    first.acquire()
    told: list[str] = []
    waiting = threading.Event()
    acquired = threading.Event()
    second = StateLock(state_path, "email-wiki-bridge once --wait")

    def tell(holder: str) -> None:
        told.append(holder)
        waiting.set()

    def wait_for_lock() -> None:
        second.acquire(wait=True, waiting=tell)
        acquired.set()

    waiter = threading.Thread(target=wait_for_lock)
    waiter.start()
    assert waiting.wait(30)
    assert not acquired.is_set()
    first.release()
    waiter.join(30)
    assert acquired.is_set()
    assert "email-wiki-bridge run" in told[0]
    assert json.loads(lock_path(state_path).read_text())["command"] == "email-wiki-bridge once --wait"
    second.release()


def test_lock_file_below_a_regular_file_is_a_state_error(tmp_path: Path) -> None:
    """A state path whose directory is a file gives an error naming the lock file, no traceback."""
    (tmp_path / "plain").write_text("not a directory")
    with pytest.raises(StateError, match="cannot open the lock file"):
        StateLock(tmp_path / "plain" / "state.sqlite3", "email-wiki-bridge once").acquire()


def test_lock_file_is_private(state_path: Path) -> None:
    """The lock file (it names host and command) is readable by the owner only."""
    with StateLock(state_path, "email-wiki-bridge once") as lock:
        lock.acquire()
        assert lock_path(state_path).stat().st_mode & 0o077 == 0
