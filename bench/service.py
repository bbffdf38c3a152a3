"""How fast new mail reaches the wiki with IMAP IDLE, and how few edits a backfill makes.

Run from the repository root on a machine set up by scripts/setup.sh:

    .venv/bin/python bench/service.py [--mails 50] [--backfill 600]

It starts its own throwaway Dovecot and MediaWiki on loopback, runs the daemon (`run`, with
`idle = true` and a one-hour poll, so only IDLE can explain fast arrivals), appends mails one
at a time and measures until each one's marker is on the wiki; then backfills a generated
history and counts edits per thread. Prints median and p95 latency (target: median <= 3 s)
and edits per thread (target: at most 1 plus late arrivals).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from bridge.core.render.page import message_marker  # noqa: E402
from tests.integration.support import WikiReader  # noqa: E402
from tests.mailgen import generate_mailbox  # noqa: E402
from tests.servers import (  # noqa: E402
    DovecotServer,
    MediaWikiServer,
    append_mail,
    free_port,
    make_temp_dir,
    start_dovecot,
    start_mediawiki,
)

USER, PASSWORD = "team-sales", "bench-secret"


def write_config(
    directory: Path, dovecot: DovecotServer, wiki: MediaWikiServer, folder: str, prefix: str
) -> Path:
    """Write a config with one IDLE mapping; return its path."""
    (directory / "wiki.secret").write_text(wiki.bot_password)
    (directory / "imap.secret").write_text(PASSWORD)
    for secret in ("wiki.secret", "imap.secret"):
        (directory / secret).chmod(0o600)
    config = directory / "config.toml"
    config.write_text(
        f"""[wiki]
api_url = {json.dumps(wiki.api_url)}
username = {json.dumps(wiki.bot_login)}
password_file = "wiki.secret"
[state]
path = "state.sqlite3"
[log]
format = "json"
level = "warning"
[service]
metrics_listen = "127.0.0.1:{free_port()}"
[[mailboxes]]
name = "sales"
host = "127.0.0.1"
port = {dovecot.port}
security = "none"
username = "{USER}"
password_file = "imap.secret"
folders = [{json.dumps(folder)}]
page_prefix = {json.dumps(prefix)}
idle = true
poll_interval = 3600
batch_size = 500
"""
    )
    return config


def idle_latency(directory: Path, dovecot: DovecotServer, wiki: MediaWikiServer, mails: int) -> list[float]:
    """Seconds from APPEND to the marker being on the wiki, per mail, with the daemon on IDLE."""
    config = write_config(directory, dovecot, wiki, "Idle-bench", "Bench/Idle")
    append_mail(dovecot, USER, "Idle-bench", _mail("warm-up@bench.example", "Warm-up"))
    daemon = subprocess.Popen(
        [sys.executable, "-m", "bridge", "--config", str(config), "run"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    latencies = []
    try:
        _wait_for(lambda: _page_has(wiki, "Bench/Idle/Warm-up", "warm-up@bench.example"), 60)
        for index in range(mails):
            message_id = f"idle-{index}@bench.example"
            started = time.monotonic()
            append_mail(dovecot, USER, "Idle-bench", _mail(message_id, f"Idle {index}"))
            title = f"Bench/Idle/Idle {index}"
            _wait_for(functools.partial(_page_has, wiki, title, message_id), 60)
            latencies.append(time.monotonic() - started)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
    return latencies


def _page_has(wiki: MediaWikiServer, title: str, message_id: str) -> bool:
    return message_marker(message_id) in WikiReader(wiki).text(title)


def _wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise TimeoutError("the mail did not reach the wiki in time")


def _mail(message_id: str, subject: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Anna Schmidt <anna@example.de>"
    mail["To"] = "team-sales@example.de"
    mail["Subject"] = subject
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = f"<{message_id}>" if message_id else make_msgid()
    mail.set_content("Neue Nachricht.\n")
    return mail.as_bytes()


def backfill_edits(
    directory: Path, dovecot: DovecotServer, wiki: MediaWikiServer, count: int
) -> tuple[int, int, int]:
    """Backfill `count` generated mails; return (threads, messages, wiki edits)."""
    mailbox = generate_mailbox(seed=7, messages=count)
    for raw in mailbox.mails:
        append_mail(dovecot, USER, "Backfill-bench", raw)
    config = write_config(directory, dovecot, wiki, "Backfill-bench", "Bench/History")
    subprocess.run(
        [sys.executable, "-m", "bridge", "--config", str(config), "backfill", "--mailbox", "sales"],
        cwd=directory,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return (
        len(mailbox.threads),
        len(mailbox.mails),
        WikiReader(wiki).bot_edit_count(wiki.bot_user, "Bench/History"),
    )


def main() -> int:
    """Run both measurements and print them side by side."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=50, help="mails for the IDLE latency (default 50)")
    parser.add_argument(
        "--backfill", type=int, default=600, help="mails in the backfilled history (default 600)"
    )
    args = parser.parse_args()
    root = make_temp_dir("ewb-bench-")
    dovecot = start_dovecot(root / "imap", {USER: PASSWORD})
    wiki = start_mediawiki(root / "wiki")
    try:
        (root / "idle").mkdir()
        latencies = idle_latency(root / "idle", dovecot, wiki, args.mails)
        (root / "backfill").mkdir()
        threads, messages, edits = backfill_edits(root / "backfill", dovecot, wiki, args.backfill)
    finally:
        dovecot.stop()
        wiki.stop()
        shutil.rmtree(root, ignore_errors=True)
    median = statistics.median(latencies)
    p95 = statistics.quantiles(latencies, n=20)[18] if len(latencies) >= 20 else max(latencies)
    print(
        f"IDLE latency over {len(latencies)} mails: median {median:.2f} s, p95 {p95:.2f} s, "
        f"max {max(latencies):.2f} s (target: median <= 3 s)"
    )
    print(
        f"backfill: {messages} mails in {threads} threads -> {edits} wiki edits, "
        f"{edits / threads:.2f} edits per thread (target <= 1 + late arrivals)"
    )
    return 0 if median <= 3.0 and edits <= threads else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
