"""`state rebuild` (a mailbox's ledger rebuilt from the wiki) and `state migrate` (SQLite to PostgreSQL)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bridge.adapters.lock import StateLock
from bridge.adapters.state.ports import LedgerImport
from bridge.adapters.state.store import SCHEMA_VERSION, PostgresStateStore, SqliteStateStore
from bridge.adapters.state.transfer import TableCopy, copy_state
from bridge.adapters.wiki import WikiClient
from bridge.errors import BridgeError
from bridge.service.config import Settings, StateSettings
from bridge.service.config.models import postgres_url_problem
from bridge.service.exitcodes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from bridge.sync.rebuild import rebuild_state


def state_command(settings: Settings, state: LedgerImport, args: argparse.Namespace) -> int:
    """Rebuild one mailbox's ledger from the markers on its wiki pages (and its mail's headers)."""
    mailbox = next((m for m in settings.mailboxes if m.name == args.mailbox), None)
    if mailbox is None:
        print(f"email-wiki-bridge: no mailbox named {args.mailbox!r} in the config", file=sys.stderr)
        return EXIT_CONFIG
    wiki = WikiClient(settings.wiki)
    try:
        result = rebuild_state(mailbox, wiki, state)
    except BridgeError as exc:
        print(f"email-wiki-bridge: state rebuild of {mailbox.name} stopped: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        wiki.close()
    print(
        f"{mailbox.name}: {result.on_wiki} messages on {result.pages} "
        f"pages under {', '.join(prefix + '/' for prefix in mailbox.page_prefixes)}, "
        f"{result.added} of them new to the state ({result.in_mailbox} found in the mailbox with their "
        "threading headers); the next pass publishes only mail that is not on the wiki"
    )
    return EXIT_OK


def migrate_command(settings: Settings, args: argparse.Namespace, command: str) -> int:
    """Copy the SQLite state (`--from`, else `[state] path`) into the empty PostgreSQL database `--to`.

    The SQLite state is locked for the copy (no pass may change it meanwhile). The target's
    password, TLS mode and CA file come from `[state]` when its `url` is the same; otherwise
    libpq's own sources (PGPASSWORD, ~/.pgpass, `?sslmode=` in the URL) apply.
    """
    source_path = args.source or settings.state.path
    trouble = postgres_url_problem(args.to)
    if trouble:
        print(f"email-wiki-bridge: --to {trouble}", file=sys.stderr)
        return EXIT_CONFIG
    if not source_path.is_file():
        print(
            f"email-wiki-bridge: there is no SQLite state at {source_path} to migrate "
            "(give its file with --from, or set [state] path)",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    target_settings = settings.state if settings.state.url == args.to else StateSettings(url=args.to)
    lock = StateLock(source_path, command)
    try:
        lock.acquire()
        with lock:
            copies = _copy(source_path, target_settings)
    except BridgeError as exc:
        print(f"email-wiki-bridge: state migrate stopped: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"copied {source_path} to {args.to}:")
    print(f"  {'table':<16} {'SQLite':>10} {'PostgreSQL':>10}")
    for copy in copies:
        print(f"  {copy.table:<16} {copy.source:>10} {copy.target:>10}")
    print(
        f"every table's rows match ({sum(c.target for c in copies)} rows); set [state] url = "
        f'"{args.to}" on every instance and start them'
    )
    return EXIT_OK


def _copy(source_path: Path, target_settings: StateSettings) -> list[TableCopy]:
    source = SqliteStateStore(source_path)
    try:
        target = PostgresStateStore(target_settings)
        try:
            return copy_state(source, target)
        finally:
            target.close()
    finally:
        source.close()


def check_state(settings: Settings) -> int:
    """`check`: connect to a PostgreSQL state (creating its schema when new); return 1 on failure.

    A SQLite state is a local file, checked when the config is read.
    """
    if settings.state.url is None:
        return 0
    try:
        PostgresStateStore(settings.state).close()
    except BridgeError as exc:
        print(f"FAIL  state: {exc}")
        return 1
    print(f"ok    state: PostgreSQL {settings.state.url}, schema version {SCHEMA_VERSION}")
    return 0
