"""Set-up shared by the measurements of `bench/run`: bridge configs, counted connections, and
reading back what the bridge left on the wiki.

Every measured command talks to Dovecot and MediaWiki through a `tests.faultproxy.FaultProxy`
(no faults) whose tap counts IMAP commands or API requests (`bench.counting`); the raw loops go
through the same kind of proxy, so the proxy's small cost falls on both sides alike.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.counting import HttpTally, ImapTally
from bench.instrument import ROOT
from tests.faultproxy import FaultProxy
from tests.integration.support import WikiReader
from tests.servers import LOOPBACK, DovecotServer, MediaWikiServer, free_port

USER, PASSWORD = "team-bench", "bench-secret"


@dataclass(frozen=True)
class Mapping:
    """One `[[mailboxes]]` entry: name, folder and page prefix."""

    name: str
    folder: str
    prefix: str


@dataclass(frozen=True)
class Endpoints:
    """Where the bridge finds IMAP and the wiki (the counting proxies, or the servers)."""

    imap_port: int
    api_url: str


def write_config(
    directory: Path,
    endpoints: Endpoints,
    wiki: MediaWikiServer,
    mappings: Sequence[Mapping],
    *,
    polling: Sequence[str] = (),
) -> Path:
    """Write a config (secrets in 0600 files, state in `directory`); return its path.

    `polling` are extra lines for every mapping (``idle = true``, ``poll_interval = 5``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    for name, secret in (("wiki.secret", wiki.bot_password), ("imap.secret", PASSWORD)):
        (directory / name).write_text(secret)
        (directory / name).chmod(0o600)
    lines = [
        "[wiki]",
        f"api_url = {json.dumps(endpoints.api_url)}",
        f"username = {json.dumps(wiki.bot_login)}",
        'password_file = "wiki.secret"',
        "[state]",
        'path = "state.sqlite3"',
        "[log]",
        'format = "json"',
        "[service]",
        f'metrics_listen = "{LOOPBACK}:{free_port()}"',
    ]
    for mapping in mappings:
        lines += [
            "[[mailboxes]]",
            f"name = {json.dumps(mapping.name)}",
            f'host = "{LOOPBACK}"',
            f"port = {endpoints.imap_port}",
            'security = "none"',
            f'username = "{USER}"',
            'password_file = "imap.secret"',
            f"folders = [{json.dumps(mapping.folder)}]",
            f"page_prefix = {json.dumps(mapping.prefix)}",
            # The weekly adoption report is a job of its own (an edit and a chart upload per
            # mapping when the daemon starts); the passes are measured without it.
            "report = false",
            *polling,
        ]
    config = directory / "config.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


@dataclass
class Counted:
    """The counting proxies in front of Dovecot and the wiki, with their tallies."""

    imap: ImapTally
    wiki: HttpTally
    endpoints: Endpoints


@contextmanager
def counted(dovecot: DovecotServer, wiki: MediaWikiServer) -> Iterator[Counted]:
    """Counting proxies in front of `dovecot` and `wiki` for the duration of the block."""
    imap_tally, wiki_tally = ImapTally(), HttpTally()
    with (
        FaultProxy(dovecot.host, dovecot.port, seed=1, tap=imap_tally) as imap_proxy,
        FaultProxy(LOOPBACK, wiki.port, seed=2, tap=wiki_tally) as wiki_proxy,
    ):
        api_url = f"http://{LOOPBACK}:{wiki_proxy.port}/api.php"
        yield Counted(imap_tally, wiki_tally, Endpoints(imap_proxy.port, api_url))


def bridge_command(config: Path, *command: str) -> None:
    """Run an unmeasured bridge command (set-up, a first pass before a measured one)."""
    subprocess.run(
        [sys.executable, "-m", "bridge", "--config", str(config), *command],
        cwd=config.parent,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wiki_files(wiki: MediaWikiServer) -> list[tuple[str, bytes]]:
    """Every file on the wiki (name, bytes): what the bridge uploaded to its fresh wiki."""
    reader = WikiReader(wiki)
    images = reader._all("allimages", action="query", list="allimages", aiprop="url", ailimit="max")
    files = []
    for image in images:
        response = requests.get(image["url"], timeout=60)
        response.raise_for_status()
        files.append((str(image["name"]), response.content))
    return files


def visible_text(wiki: MediaWikiServer, title: str) -> str:
    """What a reader sees of a page: its rendered HTML as text, without edit links or reports."""
    from tests.integration.support import plain_text

    body: dict[str, Any] = WikiReader(wiki).get(
        action="parse", page=title, prop="text", disableeditsection="1", disablelimitreport="1"
    )
    return plain_text(str(body["parse"]["text"])).strip()


def page_exists(wiki: MediaWikiServer, title: str) -> bool:
    """Whether `title` (main namespace) exists, read from the wiki's own SQLite database.

    Costs the wiki nothing: ``php -S`` serves one request at a time, and polling its API every
    20 ms would queue in front of the very edit being timed.
    """
    database = wiki.dir / "data" / "wiki.sqlite"
    try:
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=0.05)) as connection:
            row = connection.execute(
                "SELECT 1 FROM page WHERE page_namespace = 0 AND page_title = ?", (title.replace(" ", "_"),)
            ).fetchone()
    except sqlite3.OperationalError:  # the wiki is writing right now; ask again at the next poll
        return False
    return row is not None


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) a process used so far, from /proc (0.0 when unknown).

    The wiki is one ``php -S`` process, so this is all the work it did: unlike wall time, hardly
    changed by other jobs sharing the machine.
    """
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
