"""Helpers for the service tests: the bridge as a subprocess with its JSON log collected, its
config, a systemd notify socket, metrics scraping, and bulk checks of the wiki and the state file."""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from typing import IO, Any

import requests

from bridge.core.msgid import normalize_id
from tests.integration.support import WikiReader
from tests.mailgen import normalize
from tests.servers import DovecotServer, MediaWikiServer, SmtpSink, append_mail, free_port

_MARKER = re.compile(r'data-message-id="([^"]*)"')


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> float:
    """Poll `predicate` until it holds and return the seconds it took; fail naming `what` on timeout."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - started


class BridgeProcess:
    """`python -m bridge --config CFG <args>` as a subprocess whose JSON log lines are collected."""

    def __init__(self, config: Path, args: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        environ = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
        environ["PYTHONUNBUFFERED"] = "1"
        environ.update(env or {})
        self.args = list(args)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "--config", str(config), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environ,
        )
        self.started = time.monotonic()
        self._lock = threading.Condition()
        self.log: list[dict[str, Any]] = []
        self.raw_stderr: list[str] = []
        self.stdout: list[str] = []
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._read_log, args=(self.process.stderr,), daemon=True),
            threading.Thread(target=self._read_stdout, args=(self.process.stdout,), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_log(self, stream: IO[bytes]) -> None:
        for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            with self._lock:
                self.raw_stderr.append(line)
                if isinstance(event, dict):
                    event["_t"] = time.monotonic()
                    self.log.append(event)
                self._lock.notify_all()

    def _read_stdout(self, stream: IO[bytes]) -> None:
        for raw in stream:
            with self._lock:
                self.stdout.append(raw.decode("utf-8", "replace").rstrip("\n"))

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    @property
    def running(self) -> bool:
        """Whether the process is still alive."""
        return self.process.poll() is None

    def events(self, name: str, **match: Any) -> list[dict[str, Any]]:
        """Return the log events called `name` whose fields equal `match`."""
        with self._lock:
            return [
                e for e in self.log if e.get("event") == name and all(e.get(k) == v for k, v in match.items())
            ]

    def log_tail(self, lines: int = 40) -> str:
        """The last stderr lines, for assertion messages."""
        with self._lock:
            return "\n".join(self.raw_stderr[-lines:])

    def wait_for_event(
        self, name: str, count: int = 1, timeout: float = 30.0, **match: Any
    ) -> list[dict[str, Any]]:
        """Wait until `count` events called `name` (with fields `match`) were logged; return them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [
                    e
                    for e in self.log
                    if e.get("event") == name and all(e.get(k) == v for k, v in match.items())
                ]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (
                    self.process.poll() is not None and not any(r.is_alive() for r in self._readers)
                ):
                    raise AssertionError(
                        f"{len(found)} of {count} {name!r} events {match or ''} after {timeout:.0f} s "
                        f"(exit code {self.process.poll()}); log tail:\n" + "\n".join(self.raw_stderr[-40:])
                    )
                self._lock.wait(min(left, 0.2))

    def send(self, signum: signal.Signals) -> None:
        """Send a signal to the process."""
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Wait for the exit and return its code; fail (and kill the process) after `timeout`."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.close()
            raise AssertionError(
                f"bridge {self.args} did not exit within {timeout:.0f} s; log tail:\n{self.log_tail()}"
            ) from None
        for reader in self._readers:
            reader.join(5)
        return code

    def terminate(self, timeout: float = 10.0) -> tuple[int, float]:
        """SIGTERM; return the exit code and the seconds until the exit."""
        sent = time.monotonic()
        self.send(signal.SIGTERM)
        code = self.wait(timeout)
        return code, time.monotonic() - sent

    def close(self) -> None:
        """Kill the process if it still runs, reap it and close its pipes."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        for reader in self._readers:
            reader.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@dataclass
class ServiceSpace:
    """A test's own config, state file, metrics port and bridge processes on the shared servers."""

    dovecot: DovecotServer
    mediawiki: MediaWikiServer
    directory: Path
    metrics_port: int = field(default_factory=free_port)
    processes: list[BridgeProcess] = field(default_factory=list)
    state_url: str | None = None
    """`[state] url` of a PostgreSQL database shared by several instances; None: the SQLite file."""

    @property
    def config_path(self) -> Path:
        """Where the config is written."""
        return self.directory / "config.toml"

    @property
    def state_path(self) -> Path:
        """The SQLite state file the config names."""
        return self.directory / "state.sqlite3"

    def secret(self, name: str, value: str) -> Path:
        """Write a secret file (mode 0600) and return its path."""
        secrets = self.directory / "secrets"
        secrets.mkdir(exist_ok=True, mode=0o700)
        path = secrets / name
        path.write_text(value)
        path.chmod(0o600)
        return path

    def mailbox(
        self,
        name: str,
        folder: str,
        prefix: str,
        *,
        user: str = "team-sales",
        password: str | None = None,
        dovecot: DovecotServer | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        """Return a `[[mailboxes]]` entry (plain IMAP on loopback) with `overrides` applied."""
        server = dovecot or self.dovecot
        entry: dict[str, Any] = {
            "name": name,
            "host": server.host,
            "port": server.port,
            "security": "none",
            "username": user,
            "folders": [folder],
            "page_prefix": prefix,
        }
        if overrides.get("auth") != "xoauth2":
            value = server.users[user] if password is None else password
            entry["password_file"] = str(self.secret(f"imap-{name}", value))
        entry.update(overrides)
        return entry

    def write_config(
        self,
        mailboxes: Iterable[Mapping[str, Any]],
        *,
        service: Mapping[str, Any] | None = None,
        wiki: Mapping[str, Any] | None = None,
        smtp: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write the config (JSON logs, metrics on this space's port) and return its path."""
        lines = [
            "[wiki]",
            f"api_url = {json.dumps(self.mediawiki.api_url)}",
            f"username = {json.dumps(self.mediawiki.bot_login)}",
            f"password_file = {json.dumps(str(self.secret('wiki', self.mediawiki.bot_password)))}",
            *(f"{key} = {json.dumps(value)}" for key, value in (wiki or {}).items()),
            "[state]",
            f"path = {json.dumps(str(self.state_path))}",
            *([f"url = {json.dumps(self.state_url)}"] if self.state_url else []),
            "[log]",
            'format = "json"',
            "[service]",
            f'metrics_listen = "127.0.0.1:{self.metrics_port}"',
            *(f"{key} = {json.dumps(value)}" for key, value in (service or {}).items()),
        ]
        if smtp is not None:
            lines.append("[smtp]")
            lines.extend(f"{key} = {json.dumps(value)}" for key, value in smtp.items())
        for entry in mailboxes:
            lines.append("[[mailboxes]]")
            lines.extend(f"{key} = {json.dumps(value)}" for key, value in entry.items())
        self.config_path.write_text("\n".join(lines) + "\n")
        return self.config_path

    def append(
        self, folder: str, raw: bytes, *, user: str = "team-sales", msg_time: datetime | None = None
    ) -> int | None:
        """APPEND a mail to `folder` of `user` (creating the folder) and return its UID."""
        return append_mail(self.dovecot, user, folder, raw, msg_time=msg_time)

    def start(self, *args: str, env: Mapping[str, str] | None = None) -> BridgeProcess:
        """Start the bridge with this space's config; it is killed at the end of the test."""
        process = BridgeProcess(self.config_path, args, env)
        self.processes.append(process)
        return process

    def cli(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run a bridge command to its end."""
        return subprocess.run(
            [sys.executable, "-m", "bridge", "--config", str(self.config_path), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def close(self) -> None:
        """Kill every bridge process the test left running."""
        for process in self.processes:
            process.close()

    # -- metrics and health ---------------------------------------------------------------------

    def get(self, path: str) -> requests.Response:
        """GET `path` of the metrics endpoint."""
        return requests.get(f"http://127.0.0.1:{self.metrics_port}{path}", timeout=5)

    def metrics(self) -> dict[str, float]:
        """Scrape /metrics: `'name{labels}'` (or bare name) -> value."""
        response = self.get("/metrics")
        response.raise_for_status()
        samples: dict[str, float] = {}
        for line in response.text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                samples[key] = float(value)
        return samples

    def metric(self, name: str, mailbox: str) -> float | None:
        """One sample of a per-mailbox metric, or None while it has none."""
        return self.metrics().get(f'{name}{{mailbox="{mailbox}"}}')

    def metrics_up(self) -> bool:
        """Whether the metrics endpoint answers."""
        try:
            self.get("/healthz")
        except requests.ConnectionError:
            return False
        return True


def state_rows(path: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run a query on the state file opened read-only."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        return list(db.execute(sql, params))


def message_statuses(path: Path, mailbox: str | None = None) -> Counter[str]:
    """Count the `messages` rows of the state file by status (`pending`, `done`); empty before it exists."""
    if not path.exists() or not state_rows(
        path, "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'messages'"
    ):
        return Counter()
    sql = "SELECT status, COUNT(*) FROM messages"
    params: tuple[str, ...] = ()
    if mailbox is not None:
        sql += " WHERE mailbox = ?"
        params = (mailbox,)
    rows = state_rows(path, sql + " GROUP BY status", params)
    return Counter({str(status): int(count) for status, count in rows})


# -- the wiki in bulk --------------------------------------------------------------------------


def page_texts(mediawiki: MediaWikiServer, prefix: str) -> dict[str, str]:
    """The current wikitext of every page under `prefix/`, following API continuation."""
    return WikiReader(mediawiki).page_texts(prefix)


def marker_counts(texts: Iterable[str]) -> Counter[str]:
    """How often each message id's `data-message-id` marker occurs in `texts`.

    Ids unescaped and canonical (lower-case domain), as the bridge compares them: a marker shows
    the id as the mail wrote it.
    """
    marked = (html.unescape(found) for text in texts for found in _MARKER.findall(text))
    return Counter(normalize_id(found) or found for found in marked)


def sent_replies(sink: SmtpSink) -> Counter[tuple[str, str]]:
    """How often the SMTP sink got a reply to each (recipient, In-Reply-To id in canonical form)."""
    return Counter(
        (parseaddr(str(mail.message["To"]))[1].lower(), normalize(str(mail.message["In-Reply-To"])))
        for mail in sink.messages
    )


def lost_notes(notes: Mapping[str, Sequence[str]], texts: Mapping[str, str]) -> list[str]:
    """The people's notes (by page) that are not on their page exactly once."""
    return [note for title, written in notes.items() for note in written if texts[title].count(note) != 1]


def bot_contributions(mediawiki: MediaWikiServer, prefix: str) -> list[dict[str, Any]]:
    """Every edit of the bridge's account to pages under `prefix/`, following API continuation."""
    return WikiReader(mediawiki).bot_contributions(mediawiki.bot_user, prefix)


def multiappend(
    dovecot: DovecotServer, user: str, folder: str, mails: Sequence[bytes], msg_time: datetime | None = None
) -> None:
    """APPEND many mails with one MULTIAPPEND command (the folder is created when missing)."""
    from imapclient import IMAPClient  # type: ignore[import-untyped, unused-ignore]

    client = IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=60)
    try:
        client.login(user, dovecot.users[user])
        if not client.folder_exists(folder):
            client.create_folder(folder)
        client.multiappend(folder, [{"msg": raw, "date": msg_time} if msg_time else raw for raw in mails])
    finally:
        try:
            client.logout()
        except Exception:  # the APPEND result matters, not a failed goodbye
            client.shutdown()


class NotifyListener:
    """A systemd-style notify socket (AF_UNIX datagrams) that records every field with its time."""

    def __init__(self) -> None:
        # sun_path holds 107 bytes: pytest's tmp_path can be longer, so a short directory is used.
        self.directory = Path(tempfile.mkdtemp(prefix="ewb-n-", dir="/tmp"))
        self.path = self.directory / "notify"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.path))
        self._sock.settimeout(0.1)
        self._lock = threading.Condition()
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            with self._lock:
                self.received.extend((now, line) for line in data.decode("utf-8").split("\n") if line)
                self._lock.notify_all()

    def environ(self, watchdog_usec: int | None = None) -> dict[str, str]:
        """The environment that points a daemon at this socket."""
        env = {"NOTIFY_SOCKET": str(self.path)}
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        return env

    def fields(self, prefix: str, since: float = 0.0) -> list[tuple[float, str]]:
        """Received fields starting with `prefix` (e.g. "READY=1", "STATUS="), at or after `since`."""
        with self._lock:
            return [(t, line) for t, line in self.received if line.startswith(prefix) and t >= since]

    def wait_for(self, prefix: str, count: int = 1, timeout: float = 20.0, since: float = 0.0) -> float:
        """Wait for `count` fields starting with `prefix`; return the time of the last of them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [t for t, line in self.received if line.startswith(prefix) and t >= since]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(found)} of {count} {prefix!r} notifications after {timeout:.0f} s; got "
                        f"{[line for _, line in self.received]}"
                    )
                self._lock.wait(min(left, 0.2))

    def close(self) -> None:
        """Stop receiving and remove the socket."""
        self._stop.set()
        self._thread.join(5)
        self._sock.close()
        shutil.rmtree(self.directory, ignore_errors=True)
