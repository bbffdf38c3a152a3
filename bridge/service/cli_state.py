"""`email-wiki-bridge state rebuild --mailbox NAME`: the ledger of a mailbox rebuilt from the wiki."""

from __future__ import annotations

import argparse
import sys

from bridge.adapters.state.ports import LedgerImport
from bridge.adapters.wiki import WikiClient
from bridge.errors import BridgeError
from bridge.service.config import Settings
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
