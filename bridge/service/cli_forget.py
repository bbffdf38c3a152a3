"""`email-wiki-bridge forget --address A | --message-id ID [--mailbox NAME] [--dry-run]` (GDPR Art. 17)."""

from __future__ import annotations

import argparse
import sys
from datetime import date

from bridge.adapters.state.ports import PrivacyLedger
from bridge.adapters.wiki_history import FORGET_RIGHTS, WikiHistory
from bridge.core.forget import ForgetRequest
from bridge.errors import BridgeError
from bridge.service.config import Settings
from bridge.service.exitcodes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from bridge.sync.forget import ForgetReport, forget


def add_forget_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Declare the `forget` command and its options."""
    command = commands.add_parser(
        "forget", help="erase a person's or a message's data from the wiki pages and the state (GDPR Art. 17)"
    )
    command.add_argument("--address", action="append", default=[], help="a mail address (repeatable)")
    command.add_argument("--message-id", action="append", default=[], help="a Message-ID (repeatable)")
    command.add_argument("--mailbox", help="only this mapping's pages (default: every mapping)")
    command.add_argument("--dry-run", action="store_true", help="list what would change; change nothing")


def forget_command(settings: Settings, state: PrivacyLedger, args: argparse.Namespace) -> int:
    """Run `forget` and print what it changed (titles and counts; never the person's data)."""
    if not args.address and not args.message_id:
        print("email-wiki-bridge: forget needs --address or --message-id", file=sys.stderr)
        return EXIT_CONFIG
    mappings = [m for m in settings.mailboxes if args.mailbox in (None, m.name)]
    if not mappings:
        print(f"email-wiki-bridge: no mailbox named {args.mailbox!r} in the config", file=sys.stderr)
        return EXIT_CONFIG
    request = ForgetRequest.of(args.address, args.message_id)
    wiki = WikiHistory(settings.wiki)
    try:
        report = forget(mappings, wiki, state, request, date.today(), dry_run=args.dry_run)
    except BridgeError as exc:
        print(f"email-wiki-bridge: forget stopped: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        wiki.close()
    _print(report, args.dry_run)
    return EXIT_FAILED if report.refused else EXIT_OK


def check_forget_rights(rights: frozenset[str]) -> None:
    """Print `check`'s line on whether an account of `rights` may run `forget` (publishing needs none)."""
    missing = [right for right in FORGET_RIGHTS if right not in rights]
    if missing:
        print(
            f"WARN  wiki: no {', '.join(missing)}: `forget` (erasure on request) cannot hide old revisions "
            "or delete files; grant 'Delete pages, revisions, and log entries' when you need it"
        )
    else:
        print(f"ok    wiki: rights {', '.join(FORGET_RIGHTS)} (for `forget`)")


def _print(report: ForgetReport, dry_run: bool) -> None:
    would = "would be " if dry_run else ""
    for title in report.pages:
        print(f"page {title}: {would}rewritten")
    for title, revisions in report.revisions.items():
        print(f"page {title}: {len(revisions)} earlier revision(s) {would}hidden")
    for name in report.files:
        print(f"file {name}: {would}deleted")
    for title, reason in report.refused.items():
        print(f"page {title}: left alone, change it by hand: {reason}")
    print(
        f"{report.messages} message(s) {would}removed, {report.scrubbed_blocks} other message(s) "
        f"{would}cleaned of the person's name and address"
        + ("" if dry_run else f", {report.state_rows} state record(s) pseudonymized")
    )
