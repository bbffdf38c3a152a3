"""The `email-wiki-bridge` command: `once`, `run`, `check`, `backfill`, `report` and the state commands.

Exit codes: 0 success, 1 a mailbox or the wiki failed (the others still ran), 2 bad configuration.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import date
from pathlib import Path

import structlog

from bridge import __version__
from bridge.adapters.imap import ImapMailbox
from bridge.adapters.lock import StateLock
from bridge.adapters.state.ports import BackfillState, ServiceState
from bridge.adapters.state.store import open_state_store
from bridge.adapters.wiki import WikiClient
from bridge.errors import BridgeError, ConfigError, LeaseLostError
from bridge.service.cli_dryrun import dry_run as dry_run_pass
from bridge.service.cli_dryrun import summary
from bridge.service.cli_forget import add_forget_parser, check_forget_rights, forget_command
from bridge.service.cli_people import check_people
from bridge.service.cli_quarantine import quarantine
from bridge.service.cli_report import report_command
from bridge.service.cli_state import check_state, migrate_command, state_command
from bridge.service.cli_status import failures, status
from bridge.service.config import Settings, load_settings
from bridge.service.daemon import Daemon, run_pass
from bridge.service.exitcodes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from bridge.service.leasing import holding, own_id
from bridge.service.logs import configure_logging
from bridge.sync.backfill import backfill
from bridge.sync.people import people_pages
from bridge.sync.rebuild import guard_lost_state
from bridge.sync.wikisetup import install_templates

DEFAULT_CONFIG = Path("/etc/email-wiki-bridge/config.toml")
log = structlog.get_logger("bridge.service.cli")
GIL_SWITCH_SECONDS = 0.0005


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
    once.add_argument(
        "--json", action="store_true", help="with --dry-run: print the plan as JSON for scripts"
    )
    once.add_argument(
        "--wait",
        action="store_true",
        help="wait while another process works on the state, instead of exiting",
    )
    commands.add_parser("run", help="run as a daemon, polling every mailbox at its poll_interval")
    commands.add_parser("check", help="validate the config and log in to every mailbox and the wiki")
    commands.add_parser("setup-wiki", help="install or update the wiki templates the pages use")
    status = commands.add_parser("status", help="show each mailbox's last pass, errors, backlog and pages")
    status.add_argument("--json", action="store_true", help="print JSON for scripts")
    backfill_command = commands.add_parser("backfill", help="import a mailbox's history, one edit per thread")
    backfill_command.add_argument("--mailbox", required=True, help="the mapping's name")
    backfill_command.add_argument("--since", type=date.fromisoformat, help="first day (YYYY-MM-DD)")
    backfill_command.add_argument("--until", type=date.fromisoformat, help="day after the last (YYYY-MM-DD)")
    backfill_command.add_argument(
        "--edits-per-minute", type=int, help="throttle wiki edits (overrides wiki.edits_per_minute)"
    )
    quarantine = commands.add_parser("quarantine", help="show or release mail the sender policy held back")
    actions = quarantine.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="list quarantined mail")
    listing.add_argument("--all", action="store_true", help="include mail released before")
    release = actions.add_parser("release", help="publish a quarantined mail on the next pass")
    release.add_argument("mailbox", help="the mapping's name")
    release.add_argument("message_id", help="the Message-ID shown by `quarantine list`")
    failures = commands.add_parser("failures", help="show failed and parked mail, or try it again")
    failure_actions = failures.add_subparsers(dest="action", required=True)
    failure_list = failure_actions.add_parser("list", help="list mail that could not be published, with why")
    failure_list.add_argument("--mailbox", help="only this mapping")
    failure_list.add_argument("--json", action="store_true", help="print JSON for scripts")
    retry = failure_actions.add_parser("retry", help="try failed (and parked) mail again on the next pass")
    retry.add_argument("mailbox", help="the mapping's name")
    retry.add_argument("message_id", nargs="?", help="only this Message-ID (shown by `failures list`)")
    report = commands.add_parser("report", help="bring the adoption report pages up to date, or print them")
    report.add_argument("--mailbox", help="only this mapping")
    report.add_argument("--print", action="store_true", help="print the report as tables; edit nothing")
    state = commands.add_parser("state", help="repair the state store")
    state_actions = state.add_subparsers(dest="action", required=True)
    rebuild = state_actions.add_parser("rebuild", help="rebuild a mailbox's state from its pages on the wiki")
    rebuild.add_argument("--mailbox", required=True, help="the mapping's name")
    migrate = state_actions.add_parser(
        "migrate", help="copy the SQLite state into an empty PostgreSQL database (checked by row counts)"
    )
    migrate.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="postgresql://user@host:port/db; the password from [state] when it names the same url, "
        "else from PGPASSWORD or ~/.pgpass",
    )
    migrate.add_argument(
        "--from", dest="source", type=Path, help="the SQLite state file (default: [state] path)"
    )
    add_forget_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of `python -m bridge`; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    # A pass's edit lane waits for the GIL at every answer while the prefetching thread parses
    # mail; at Python's default 5 ms hand-over the wiki idles up to that long at each answer.
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
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
    if args.command == "state" and args.action == "migrate":
        return migrate_command(settings, args, " ".join(["email-wiki-bridge", *argv]))
    dry_run = args.command == "once" and args.dry_run
    if args.command == "once" and args.json and not dry_run:
        print("email-wiki-bridge: once --json needs --dry-run", file=sys.stderr)
        return EXIT_CONFIG
    if dry_run or args.command not in ("once", "run", "backfill", "state"):
        return _with_state(args, settings, dry_run)
    lock: AbstractContextManager[object] = nullcontext()
    if settings.state.url is None:
        # One process at a time writes the SQLite state; reading commands and dry runs need no lock.
        # A shared PostgreSQL state has none: several instances use it at once.
        lock = file_lock = StateLock(settings.state.path, " ".join(["email-wiki-bridge", *argv]))
        try:
            file_lock.acquire(wait=args.command == "once" and args.wait, waiting=_tell_waiting)
        except BridgeError as exc:
            print(f"email-wiki-bridge: {exc}", file=sys.stderr)
            return EXIT_FAILED
    with lock:
        if args.command != "state":
            # Missing templates are installed at start-up; a wiki that is down now must not keep the
            # daemon from starting: its passes retry and report the wiki's state themselves.
            _setup_wiki(settings, only_missing=True)
        return _with_state(args, settings, dry_run)


def _tell_waiting(holder: str) -> None:
    print(f"email-wiki-bridge: waiting for {holder} to finish with the state store", file=sys.stderr)


def _with_state(args: argparse.Namespace, settings: Settings, dry_run: bool) -> int:
    try:
        # A dry run reads the state as it is and cannot write to it.
        state = open_state_store(settings.state, read_only=dry_run)
    except BridgeError as exc:
        print(f"email-wiki-bridge: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        if dry_run:
            return dry_run_pass(settings, state, args.json)
        if args.command == "once":
            return _once(settings, state)
        if args.command == "quarantine":
            return quarantine(settings, state, args)
        if args.command == "status":
            return status(settings, state, args.json)
        if args.command == "failures":
            return failures(settings, state, args)
        if args.command == "state":
            return state_command(settings, state, args)
        if args.command == "report":
            return report_command(settings, state, args)
        if args.command == "backfill":
            return _backfill(settings, state, args)
        if args.command == "forget":
            return forget_command(settings, state, args)
        Daemon(args.config, settings, state, os.environ).run()
        return EXIT_OK
    finally:
        state.close()


def _once(settings: Settings, state: ServiceState) -> int:
    exit_code = EXIT_OK
    holder = own_id(settings)
    for mailbox in settings.mailboxes:
        try:
            with holding(state, mailbox.name, holder, settings.service.lease_seconds) as lease:
                if lease is None:
                    print(f"{mailbox.name}: skipped: another instance works on it (see `status`)")
                    continue
                with state.fenced(lease):
                    result = run_pass(mailbox, settings, state)
        except LeaseLostError as exc:
            print(f"{mailbox.name}: FAILED: {exc}")
            exit_code = EXIT_FAILED
            continue
        if result is None:
            error = state.mailbox_status(mailbox.name).last_error
            print(f"{mailbox.name}: FAILED: {error or 'see the log'}")
            exit_code = EXIT_FAILED
            continue
        if result.failed:
            # The pass went on, but mail is left behind: cron and scripts should hear of it.
            exit_code = EXIT_FAILED
        print(summary(result))
    return exit_code


def _backfill(settings: Settings, state: BackfillState, args: argparse.Namespace) -> int:
    mailbox = next((m for m in settings.mailboxes if m.name == args.mailbox), None)
    if mailbox is None:
        print(f"email-wiki-bridge: no mailbox named {args.mailbox!r} in the config", file=sys.stderr)
        return EXIT_CONFIG
    wiki_settings = settings.wiki
    if args.edits_per_minute is not None:
        wiki_settings = wiki_settings.model_copy(update={"edits_per_minute": args.edits_per_minute})
    wiki = WikiClient(wiki_settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        guard_lost_state(mailbox, wiki, state)
        people = people_pages(mailbox, settings, wiki, state)
        concurrency = wiki_settings.concurrency
        result = backfill(
            mailbox, wiki, state, args.since, args.until, stop, concurrency=concurrency, people=people
        )
    except BridgeError as exc:
        print(
            f"email-wiki-bridge: backfill of {mailbox.name} stopped: {exc} (run it again to resume)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    finally:
        wiki.close()
    print(
        f"{mailbox.name}: {result.published} published in {len(result.pages_created)} new and "
        f"{len(set(result.pages_extended))} extended pages, {result.duplicates} already known, "
        f"{result.failed} failed; {wiki.edits} wiki edits"
        + (" (interrupted: run it again to resume)" if stop.is_set() else "")
    )
    return EXIT_FAILED if stop.is_set() or result.failed else EXIT_OK


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
    failures += check_state(settings)
    wiki = WikiClient(settings.wiki)
    try:
        failures += _check_wiki(settings, wiki)
    except BridgeError as exc:
        failures += 1
        print(f"FAIL  wiki: {exc}")
    finally:
        wiki.close()
    for mailbox in settings.mailboxes:
        try:
            account = mailbox.account
            with ImapMailbox(mailbox.name, account) as imap:
                counts = [f"{folder} ({imap.select(folder).exists})" for folder in account.folders]
            print(
                f"ok    mailbox {mailbox.name}: logged in as {account.username}; folders {', '.join(counts)}"
            )
            for route in mailbox.routes:
                print(
                    f"ok    mailbox {mailbox.name}: route {route.name!r}: {', '.join(route.recipients)} "
                    f"-> {route.page_prefix}/"
                )
            if mailbox.routes:
                unrouted = (
                    "quarantined" if mailbox.unrouted == "quarantine" else f"to {mailbox.space.page_prefix}/"
                )
                print(f"ok    mailbox {mailbox.name}: mail no route takes is {unrouted}")
        except BridgeError as exc:
            failures += 1
            print(f"FAIL  {exc}")
    failures += check_people(settings)
    return EXIT_FAILED if failures else EXIT_OK


# Rights the bridge never needs (`delete` is for `forget` alone); an account holding them is more
# powerful than it must be.
_EXCESS_RIGHTS = (
    "editinterface",
    "editsitejs",
    "editsitecss",
    "userrights",
    "block",
    "protect",
    "import",
)
_GRANT_FIX = "grant it to the account (or to its bot password on Special:BotPasswords)"


def _check_wiki(settings: Settings, wiki: WikiClient) -> int:
    """Print one line per wiki check (login, rights, rights on each page prefix); return failures."""
    wiki.login()
    print(f"ok    wiki: logged in to {wiki.site_name()} as {wiki.username}")
    failures = 0
    for right, needed_for in (("edit", "editing pages"), ("createpage", "creating thread pages")):
        if right in wiki.rights:
            print(f"ok    wiki: right '{right}'")
        else:
            failures += 1
            print(f"FAIL  wiki: the account lacks '{right}', needed for {needed_for}; {_GRANT_FIX}")
    if "upload" in wiki.rights:
        print("ok    wiki: right 'upload'")
    else:
        print(
            f"WARN  wiki: no 'upload' right: attachments are listed on the pages, not uploaded; {_GRANT_FIX}"
        )
    if "bot" in wiki.rights:
        print("ok    wiki: right 'bot' (edits are marked as bot edits)")
    else:
        print(
            "WARN  wiki: no 'bot' right: every edit shows in recent changes; add the account to the bot group"
        )
    check_forget_rights(wiki.rights)
    excess = [right for right in _EXCESS_RIGHTS if right in wiki.rights]
    if excess:
        print(
            f"WARN  wiki: the account has rights it never needs: {', '.join(excess)}; use a bot password "
            "with only the grants the README lists"
        )
    spaces = [(mailbox.name, prefix) for mailbox in settings.mailboxes for prefix in mailbox.page_prefixes]
    for name, prefix in spaces:
        probe = f"{prefix}/Email-wiki-bridge rights check"
        allowed = wiki.allowed_actions(probe, ("edit", "create"))
        if all(allowed.values()):
            print(f"ok    wiki: may create and edit pages under {prefix}/ (mailbox {name})")
        else:
            failures += 1
            missing = ", ".join(action for action, ok in allowed.items() if not ok)
            print(
                f"FAIL  wiki: may not {missing} pages under {prefix}/ (mailbox {name}); "
                "check the namespace's protection and $wgNamespaceProtection"
            )
    return failures
