"""Measuring the running bridge: IDLE latency of the daemon, and the cost of a quiet pass.

`idle_latency` runs the daemon (`run`) with IDLE on and a one-hour poll (so only IDLE can explain
a fast arrival), APPENDs mails one at a time and times each from the APPEND until its page is
in the wiki's database, polled every `POLL_SECONDS` straight from the wiki's SQLite file (the
wiki's API would queue the polls in front of the edit being timed); each page's text is checked
for the mail's marker afterwards. The daemon's IMAP goes through a counting proxy that notes
when the server announced the new mail (``* n EXISTS``), which splits each latency into the
server's share (Dovecot waits 0.5 s before it tells an IDLE client) and the bridge's.
`quiet_passes` maps many mailboxes, lets the daemon publish their mail, then counts what its
passes send to IMAP and to the wiki while no new mail comes (the daemon keeps its sessions
between passes), and what one `once` (a new process, which must log in) sends then.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from bench.counting import ImapTally
from bench.instrument import ROOT
from bench.wiring import (
    PASSWORD,
    USER,
    Endpoints,
    Mapping,
    bridge_command,
    counted,
    page_exists,
    write_config,
)
from bridge.core.render.page import message_marker
from bridge.core.render.titles import page_title
from tests.faultproxy import FaultProxy
from tests.integration.support import WikiReader
from tests.servers import DovecotServer, MediaWikiServer

POLL_SECONDS = 0.02
PAUSE_SECONDS = 0.5
"""Between two mails, so each one finds the daemon idle again, as mail arriving on its own does."""
TIMEOUT_SECONDS = 60.0
QUIET_POLL_SECONDS = 5
QUIET_ROUNDS = 3


def _mail(number: int, subject: str) -> tuple[bytes, str]:
    """A short new mail and its Message-ID."""
    message_id = f"bench-{number}-{time.monotonic_ns()}@bench.example"
    mail = EmailMessage()
    mail["From"] = "Anna Schmidt <anna.schmidt@example.de>"
    mail["To"] = "team-sales@example.de"
    mail["Subject"] = subject
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = f"<{message_id}>"
    mail.set_content(f"Hallo zusammen,\n\nNachricht Nummer {number}.\n\nViele Grüße\nAnna\n")
    return mail.as_bytes(), message_id


class _Appender:
    """One IMAP connection that APPENDs mails to a folder (created when missing)."""

    def __init__(self, dovecot: DovecotServer, folder: str) -> None:
        from imapclient import IMAPClient  # type: ignore[import-untyped, unused-ignore]

        self.folder = folder
        self.client = IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=30)
        self.client.login(USER, PASSWORD)
        if not self.client.folder_exists(folder):
            self.client.create_folder(folder)

    def append(self, raw: bytes) -> None:
        self.client.append(self.folder, raw)

    def close(self) -> None:
        self.client.logout()


@contextmanager
def _daemon(config: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The daemon (`run`) on `config`, its log in the config's directory; stopped by SIGTERM."""
    with (config.parent / "bridge.log").open("ab") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "bridge", "--config", str(config), "run"],
            cwd=config.parent,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            stdout=log,
            stderr=log,
        )
    try:
        yield daemon
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)


@dataclass(frozen=True)
class Arrival:
    """One mail under IDLE: seconds from its APPEND to its page, and to the server's notice."""

    latency: float
    notice: float | None
    """Until the server told the daemon's connection of it (None: no notice seen before the page)."""


def idle_latency(directory: Path, dovecot: DovecotServer, wiki: MediaWikiServer, mails: int) -> list[Arrival]:
    """Each mail's arrival on the wiki, with the daemon on IDLE (its IMAP through a counting proxy)."""
    prefix, folder = "Bench/Idle", "Idle"
    polling = ("idle = true", "poll_interval = 3600")
    appender = _Appender(dovecot, folder)  # straight to the server: its answers are not counted
    appender.append(_mail(0, "Warm-up")[0])
    arrivals: list[Arrival] = []
    published: list[tuple[str, str]] = []
    tally = ImapTally()
    try:
        with FaultProxy(dovecot.host, dovecot.port, seed=1, tap=tally) as proxy:
            endpoints = Endpoints(proxy.port, wiki.api_url)
            mapping = Mapping("idle", folder, prefix)
            config = write_config(directory, endpoints, wiki, [mapping], polling=polling)
            with _daemon(config):
                _wait(wiki, page_title(prefix, "Warm-up"))
                for number in range(1, mails + 1):
                    time.sleep(PAUSE_SECONDS)
                    subject = f"Idle {number}"
                    raw, message_id = _mail(number, subject)
                    started = time.monotonic()
                    appender.append(raw)
                    _wait(wiki, page_title(prefix, subject))
                    ended = time.monotonic()
                    notices = [at for at in list(tally.exists_at) if started <= at <= ended]
                    arrivals.append(Arrival(ended - started, notices[0] - started if notices else None))
                    published.append((subject, message_id))
    finally:
        appender.close()
    reader = WikiReader(wiki)
    for subject, message_id in published:
        if message_marker(message_id) not in reader.text(page_title(prefix, subject)):
            raise SystemExit(f"IDLE: the page of {subject!r} carries no message marker")
    return arrivals


def _wait(wiki: MediaWikiServer, title: str) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not page_exists(wiki, title):
        if time.monotonic() > deadline:
            raise SystemExit(f"{title!r} did not appear on the wiki within {TIMEOUT_SECONDS:.0f} s")
        time.sleep(POLL_SECONDS)


@dataclass(frozen=True)
class QuietPasses:
    """What passes over mapped mailboxes without new mail sent, in all."""

    passes: int
    imap_commands: Counter[str]
    wiki_actions: Counter[str]


def quiet_passes(
    directory: Path, dovecot: DovecotServer, wiki: MediaWikiServer, mailboxes: int
) -> tuple[QuietPasses, QuietPasses]:
    """Map `mailboxes` folders with one mail each and publish them with the daemon; count its
    quiet passes over `QUIET_ROUNDS` poll intervals, then one `once` (a new process) after it."""
    mappings = [
        Mapping(f"quiet-{n:02}", f"Quiet-{n:02}", f"Bench/Quiet {n:02}") for n in range(1, mailboxes + 1)
    ]
    for number, mapping in enumerate(mappings, start=1):
        appender = _Appender(dovecot, mapping.folder)
        appender.append(_mail(number, f"Quiet {number}")[0])
        appender.close()
    log = directory / "bridge.log"
    with counted(dovecot, wiki) as tally:
        polling = (f"poll_interval = {QUIET_POLL_SECONDS}",)
        config = write_config(directory, tally.endpoints, wiki, mappings, polling=polling)
        with _daemon(config):
            for number, mapping in enumerate(mappings, start=1):
                _wait(wiki, page_title(mapping.prefix, f"Quiet {number}"))
            time.sleep(QUIET_POLL_SECONDS + 2)  # every mapping had its first pass with nothing new
            passes, commands, actions = _passes(log), tally.imap.snapshot(), tally.wiki.snapshot()
            time.sleep(QUIET_ROUNDS * QUIET_POLL_SECONDS + 1)
            daemon = QuietPasses(
                _passes(log) - passes, tally.imap.snapshot() - commands, tally.wiki.snapshot() - actions
            )
    with counted(dovecot, wiki) as tally:
        bridge_command(write_config(directory, tally.endpoints, wiki, mappings), "once")
    return daemon, QuietPasses(mailboxes, tally.imap.snapshot(), tally.wiki.snapshot())


def _passes(log: Path) -> int:
    """Passes finished so far, by the daemon's log."""
    return log.read_text(errors="replace").count('"event": "pass.finished"')
