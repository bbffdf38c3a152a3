"""The `email-wiki-bridge` command: `once`, `run` and `check`.

Exit codes: 0 success, 1 a mailbox or the wiki failed (the others still ran), 2 bad configuration.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import structlog

from bridge import __version__
from bridge.config import Settings, load_settings
from bridge.daemon import Daemon, release_quarantined, run_pass
from bridge.errors import BridgeError, ConfigError
from bridge.imap import ImapMailbox
from bridge.logs import configure_logging
from bridge.state import SqliteStateStore
from bridge.wiki import WikiClient
from bridge.wikisetup import install_templates

DEFAULT_CONFIG = Path("/etc/email-wiki-bridge/config.toml")
EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
log = structlog.get_logger("bridge.cli")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="email-wiki-bridge", description="Publish team mailboxes as thread pages on a MediaWiki."
    )
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help=f"config file (default {DEFAULT_CONFIG})"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    once = commands.add_parser("once", help="run one sync pass over every mailbox and exit")
    once.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be published, replied and moved; change nothing",
    )
    commands.add_parser("run", help="run as a daemon, polling every mailbox at its poll_interval")
    commands.add_parser("check", help="validate the config and log in to every mailbox and the wiki")
    commands.add_parser("setup-wiki", help="install or update the wiki templates the pages use")
    quarantine = commands.add_parser("quarantine", help="show or release mail the sender policy held back")
    actions = quarantine.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="list quarantined mail")
    listing.add_argument("--all", action="store_true", help="include mail released before")
    release = actions.add_parser("release", help="publish a quarantined mail on the next pass")
    release.add_argument("mailbox", help="the mapping's name")
    release.add_argument("message_id", help="the Message-ID shown by `quarantine list`")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of `python -m bridge`; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"email-wiki-bridge: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log)
    for warning in settings.warnings:
        log.warning("config.warning", detail=warning)
    if args.command == "check":
        return _check(settings)
    if args.command == "setup-wiki":
        return _setup_wiki(settings, only_missing=False)
    dry_run = args.command == "once" and args.dry_run
    if not dry_run and args.command in ("once", "run"):
        # Missing templates are installed at start-up; a wiki that is down now must not keep the
        # daemon from starting: its passes retry and report the wiki's state themselves.
        _setup_wiki(settings, only_missing=True)
    with tempfile.TemporaryDirectory(prefix="ewb-dry-run-") as scratch:
        state_path = settings.state.path
        if dry_run:
            # The pass runs on a copy of the state, which is thrown away afterwards.
            copy = Path(scratch) / "state.sqlite3"
            if state_path.exists():
                with sqlite3.connect(state_path) as source, sqlite3.connect(copy) as target:
                    source.backup(target)
            state_path = copy
        try:
            state = SqliteStateStore(state_path)
        except BridgeError as exc:
            print(f"email-wiki-bridge: {exc}", file=sys.stderr)
            return EXIT_FAILED
        try:
            if args.command == "once":
                return _once(settings, state, dry_run)
            if args.command == "quarantine":
                return _quarantine(settings, state, args)
            Daemon(args.config, settings, state, os.environ).run()
            return EXIT_OK
        finally:
            state.close()


def _once(settings: Settings, state: SqliteStateStore, dry_run: bool) -> int:
    exit_code = EXIT_OK
    for mailbox in settings.mailboxes:
        plan: list[str] | None = [] if dry_run else None
        result = run_pass(mailbox, settings, state, plan=plan)
        for line in plan or []:
            print(f"would {line}")
        if result is None:
            print(f"{mailbox.name}: FAILED (see the log)")
            exit_code = EXIT_FAILED
            continue
        print(
            f"{mailbox.name}: {result.published} published, {result.duplicates} already known, "
            f"{result.failed} failed, {result.quarantined} quarantined; {len(result.pages_created)} pages "
            f"created, {len(set(result.pages_extended))} extended; {result.replies_sent} replies sent"
            + (" (dry run: nothing was changed)" if dry_run else "")
        )
    return exit_code


def _quarantine(settings: Settings, state: SqliteStateStore, args: argparse.Namespace) -> int:
    if args.action == "list":
        entries = state.quarantined(status=None if args.all else "quarantined")
        for held in entries:
            print(
                f"{held.mailbox}\t{held.message_id}\t{held.sender}\t{held.created_at}\t{held.status}\t"
                f"{held.subject}\t{held.reason}"
            )
        if not entries:
            print("no quarantined mail")
        return EXIT_OK
    mailbox = next((m for m in settings.mailboxes if m.name == args.mailbox), None)
    entry = next(
        (e for e in state.quarantined(args.mailbox, "quarantined") if e.message_id == args.message_id), None
    )
    if mailbox is None or entry is None:
        print(
            f"email-wiki-bridge: no quarantined mail {args.message_id!r} in mailbox {args.mailbox!r}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    try:
        release_quarantined(mailbox, state, entry)
    except BridgeError as exc:
        print(f"email-wiki-bridge: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"released {entry.message_id}: it is published on the next pass of {mailbox.name}")
    return EXIT_OK


def _setup_wiki(settings: Settings, only_missing: bool) -> int:
    """Install the templates; at start-up (`only_missing`) quietly, as `setup-wiki` with a report."""
    wiki = WikiClient(settings.wiki)
    try:
        for line in install_templates(wiki, only_missing=only_missing):
            if not only_missing:
                print(line)
    except BridgeError as exc:
        if only_missing:
            log.warning("templates.not_installed", error=str(exc))
        else:
            print(f"email-wiki-bridge: cannot set up the wiki templates: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        wiki.close()
    return EXIT_OK


def _check(settings: Settings) -> int:
    failures = 0
    print(f"ok    config: {len(settings.mailboxes)} mailbox(es)")
    wiki = WikiClient(settings.wiki)
    try:
        wiki.login()
        rights = sorted({"edit", "createpage", "bot"} & wiki.rights)
        print(f"ok    wiki: logged in to {wiki.site_name()} as {wiki.username} (rights: {', '.join(rights)})")
        missing = {"edit", "createpage"} - wiki.rights
        if missing:
            failures += 1
            print(
                f"FAIL  wiki: the account lacks the rights {', '.join(sorted(missing))}; "
                "grant them to the bot password on Special:BotPasswords"
            )
    except BridgeError as exc:
        failures += 1
        print(f"FAIL  wiki: {exc}")
    finally:
        wiki.close()
    for mailbox in settings.mailboxes:
        try:
            with ImapMailbox(mailbox) as imap:
                counts = [f"{folder} ({imap.select(folder).exists})" for folder in mailbox.folders]
            print(
                f"ok    mailbox {mailbox.name}: logged in as {mailbox.username}; folders {', '.join(counts)}"
            )
        except BridgeError as exc:
            failures += 1
            print(f"FAIL  {exc}")
    return EXIT_FAILED if failures else EXIT_OK
