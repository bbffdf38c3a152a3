"""The `quarantine list|release` command: the mail the sender policy held back, and undoing that.

Releasing moves the mail back (or clears its flag) and lets the next pass publish it; it needs
no lock, as the running daemon picks the one small write up on its next pass.
"""

from __future__ import annotations

import argparse
import sys

import structlog

from bridge.adapters.imap import ImapMailbox
from bridge.adapters.state.ports import QuarantineDesk, Releaser
from bridge.adapters.state.statuses import QuarantineStatus
from bridge.adapters.state.store import QuarantinedMail
from bridge.errors import BridgeError
from bridge.service.config import MailboxSettings, Settings
from bridge.service.exitcodes import EXIT_FAILED, EXIT_OK

log = structlog.get_logger("bridge.service.cli_quarantine")


def quarantine(settings: Settings, state: QuarantineDesk, args: argparse.Namespace) -> int:
    """`quarantine list`: the held mail; `quarantine release`: undo one mail's quarantine."""
    if args.action == "list":
        entries = state.quarantined(status=None if args.all else QuarantineStatus.QUARANTINED)
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
        (
            e
            for e in state.quarantined(args.mailbox, QuarantineStatus.QUARANTINED)
            if e.message_id == args.message_id
        ),
        None,
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


def release_quarantined(mailbox: MailboxSettings, state: Releaser, entry: QuarantinedMail) -> None:
    """Undo the quarantine of one mail (move it back, or clear its flag) and let the next pass publish it."""
    with ImapMailbox(mailbox.name, mailbox.account) as imap:
        if mailbox.senders.quarantine == "move":
            imap.select(mailbox.senders.quarantine_folder, writable=True)
            imap.move(imap.find_message(entry.message_id), entry.folder)
            # Back in its folder under a new UID above the read position: the next pass reads it.
            state.release(mailbox.name, entry.message_id, entry.folder, entry.uidvalidity, 0)
        else:
            status = imap.select(entry.folder, writable=True)
            uids = [entry.uid]
            if status.uidvalidity != entry.uidvalidity:
                # The folder was renumbered since: the recorded UID names another mail, or none.
                uids = imap.find_message(entry.message_id)
            if uids:
                imap.remove_flags(uids, [mailbox.senders.quarantine_flag])
            uid = min(uids, default=0)
            state.release(mailbox.name, entry.message_id, entry.folder, status.uidvalidity, uid)
    log.info("quarantine.released", mailbox=mailbox.name, message_id=entry.message_id)
