"""`check`'s people report: how many of each mapping's recent colleagues have a wiki account.

The senders of the newest mail of each folder (their From headers only) are sorted into
colleagues and people from outside; the colleagues' candidate accounts (rule or people file) are
asked of the wiki, as a pass would, without touching the state store.
"""

from __future__ import annotations

import email.parser
import email.policy

from bridge.adapters.imap import ImapMailbox
from bridge.adapters.wiki import WikiClient
from bridge.core.headers import addresses
from bridge.errors import BridgeError
from bridge.service.config import MailboxSettings, Settings
from bridge.sync.people import Directory

# How many of the newest mails per folder are looked at.
RECENT_MAILS = 200
# How many addresses without an account are named in the report.
NAMED_MISSING = 5


def recent_senders(mailbox: MailboxSettings, count: int = RECENT_MAILS) -> set[str]:
    """The lower-case From addresses of the newest `count` mails of each folder of `mailbox`."""
    found: set[str] = set()
    parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)
    with ImapMailbox(mailbox.name, mailbox.account) as imap:
        for folder in mailbox.account.folders:
            imap.select(folder)
            uids = imap.uids_after(0)[-count:]
            for block in imap.from_headers(uids):
                headers = parser.parsebytes(block)
                found.update(address.lower() for _, address in addresses(headers.get_all("From") or []))
    return {address for address in found if "@" in address}


def check_people(settings: Settings) -> int:
    """Print one line per mapping on its colleagues' wiki accounts; return the number of failures."""
    if not settings.organisation.links_people:
        return 0  # nothing to link: nothing to report
    failures = 0
    wiki = WikiClient(settings.wiki)
    try:
        directory = Directory(settings.organisation, wiki, None)
        for mailbox in settings.mailboxes:
            try:
                senders = recent_senders(mailbox) - settings.own_addresses()
                insiders = settings.insiders(mailbox)
                inside = sorted(address for address in senders if insiders.address_inside(address))
                accounts = directory.accounts(inside)
            except BridgeError as exc:
                failures += 1
                print(f"FAIL  people {mailbox.name}: {exc}")
                continue
            missing = [address for address in inside if address not in accounts]
            named = f"; without one: {', '.join(missing[:NAMED_MISSING])}" if missing else ""
            more = f" and {len(missing) - NAMED_MISSING} more" if len(missing) > NAMED_MISSING else ""
            print(
                f"ok    people {mailbox.name}: {len(accounts)} of {len(inside)} recent internal senders "
                f"map to an existing wiki account ({len(senders) - len(inside)} external){named}{more}"
            )
    finally:
        wiki.close()
    return failures
