"""Measuring one migration: `backfill` or a first `once` over a full mailbox, then the raw ceiling.

Each command gets a fresh MediaWiki (so its uploads are really uploaded, not found from an
earlier run) with the bridge's templates already installed, a fresh state store and page
prefix. Right after the bridge, on the same wiki, the raw loops (`bench.raw`) save the very page
texts the bridge produced under a fresh prefix, upload the same files under fresh names, and
fetch the same mails: machine load at that moment hits both sides alike.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.instrument import BridgeRun, run_bridge
from bench.raw import raw_imap, raw_wiki
from bench.wiring import (
    PASSWORD,
    USER,
    Endpoints,
    Mapping,
    bridge_command,
    counted,
    process_cpu,
    visible_text,
    wiki_files,
    write_config,
)
from bridge.core.markers import read_markers
from tests.integration.support import WikiReader
from tests.servers import LOOPBACK, DovecotServer, start_mediawiki

VISIBLE_SAMPLE = 25
REFERENCE = re.compile(r"&(?:#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);")
"""A character reference in wikitext: what escaping costs."""
"""Pages whose rendered text is compared with their wikitext (parsing every page takes long)."""


@dataclass
class Migration:
    """What one bridge command did to a full mailbox, and what the raw loops needed for the same."""

    command: str
    size: int
    run: BridgeRun
    edits: int
    pages: int
    uploads: int
    messages_on_pages: int
    wikitext_bytes: int
    sample_wikitext_bytes: int
    sample_visible_bytes: int
    sample_reference_bytes: int
    imap_commands: Counter[str]
    imap_bytes: int
    imap_seconds: float
    wiki_cpu: float
    wiki_actions: Counter[str]
    wiki_busy: dict[str, float]
    raw_wiki_seconds: float = 0.0
    raw_wiki_cpu: float = 0.0
    raw_wiki_busy: dict[str, float] = field(default_factory=dict)
    raw_wiki_actions: Counter[str] = field(default_factory=Counter)
    raw_imap_seconds: float = 0.0  # from each command to its answer, as for the bridge
    raw_imap_bytes: int = 0


def measure(
    command: str, size: int, folder: str, dovecot: DovecotServer, directory: Path, seed: int
) -> Migration:
    """Run `command` ("backfill" or "once") over `folder` against a fresh wiki, then the raw loops."""
    wiki = start_mediawiki(directory / "wiki", opcache=True)
    try:
        prefix = f"Bench/{command.capitalize()}"
        mapping = Mapping("bench", folder, prefix)
        direct = Endpoints(dovecot.port, wiki.api_url)
        bridge_command(write_config(directory / "setup", direct, wiki, [mapping]), "setup-wiki")
        with counted(dovecot, wiki) as tally:
            config = write_config(directory / "run", tally.endpoints, wiki, [mapping])
            arguments = ["backfill", "--mailbox", mapping.name] if command == "backfill" else ["once"]
            wiki_cpu = process_cpu(wiki.pid)
            run = run_bridge(config, arguments, config.parent)
            wiki_cpu = process_cpu(wiki.pid) - wiki_cpu
        if run.exit_code != 0:
            log = (config.parent / "bridge.log").read_text(errors="replace")[-3000:]
            raise SystemExit(f"{command} over {size} mails failed (exit {run.exit_code}):\n{log}")
        reader = WikiReader(wiki)
        texts = reader.page_texts(prefix)
        files = wiki_files(wiki)
        rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
        sample = sorted(rng.sample(sorted(texts), min(VISIBLE_SAMPLE, len(texts))))
        result = Migration(
            command=command,
            size=size,
            run=run,
            edits=reader.bot_edit_count(wiki.bot_user, prefix),
            pages=len(texts),
            uploads=len(files),
            messages_on_pages=sum(len(read_markers(text).message_ids) for text in texts.values()),
            wikitext_bytes=sum(len(text.encode()) for text in texts.values()),
            sample_wikitext_bytes=sum(len(texts[title].encode()) for title in sample),
            sample_visible_bytes=sum(len(visible_text(wiki, title).encode()) for title in sample),
            sample_reference_bytes=sum(
                len(found) for title in sample for found in REFERENCE.findall(texts[title])
            ),
            imap_commands=Counter(tally.imap.commands),
            imap_bytes=tally.imap.bytes_from_server,
            imap_seconds=tally.imap.seconds,
            wiki_cpu=wiki_cpu,
            wiki_actions=Counter(tally.wiki.actions),
            wiki_busy=tally.wiki.seconds(),
        )
        pages = [(f"Raw/{command}{title[len(prefix) :]}", text) for title, text in sorted(texts.items())]
        renamed = [(f"Raw-{command}-{name}", data) for name, data in files]
        with counted(dovecot, wiki) as raw_tally:
            raw_cpu = process_cpu(wiki.pid)
            result.raw_wiki_seconds = raw_wiki(
                raw_tally.endpoints.api_url, wiki.bot_login, wiki.bot_password, pages, renamed
            ).seconds
            result.raw_wiki_cpu = process_cpu(wiki.pid) - raw_cpu
            raw_imap(LOOPBACK, raw_tally.endpoints.imap_port, USER, PASSWORD, folder)
        result.raw_imap_seconds = raw_tally.imap.seconds
        result.raw_imap_bytes = raw_tally.imap.bytes_from_server
        result.raw_wiki_actions = Counter(raw_tally.wiki.actions)
        result.raw_wiki_busy = raw_tally.wiki.seconds()
        return result
    finally:
        wiki.stop()
