"""The IMAP and wiki sessions of one mapping, kept open by the daemon from one pass to the next.

A pass triggered by IDLE should cost the mail's own work only: a fresh IMAP login and a wiki
login with its token and site-info requests took longer than the edit itself. The daemon runs
at most one pass of a mapping at a time, so one pair of sessions per mapping is never shared
between threads. Sessions idle for longer than `KEEP_SECONDS` are replaced by fresh ones (the
network may have dropped them silently), and so are the sessions of a pass that failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bridge.adapters.imap import ImapMailbox
from bridge.adapters.wiki import WikiClient
from bridge.service.config import MailboxSettings, WikiSettings

# Below the idle timeouts of NAT gateways (350 s on AWS) and far below the 30-minute IMAP
# autologout (RFC 3501 5.4), so a kept session is almost always still open when it is used.
KEEP_SECONDS = 300.0


class MappingSessions:
    """The kept IMAP session and wiki session of one mapping (see the module docstring)."""

    def __init__(
        self,
        mailbox: MailboxSettings,
        wiki: WikiSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.mailbox = mailbox
        self.wiki_settings = wiki
        self._clock = clock
        self._imap: ImapMailbox | None = None
        self._wiki: WikiClient | None = None
        self._last_used = float("-inf")

    def fits(self, mailbox: MailboxSettings, wiki: WikiSettings) -> bool:
        """Whether these sessions were opened with these settings (a reload may have changed them)."""
        return mailbox == self.mailbox and wiki == self.wiki_settings

    def _fresh(self) -> bool:
        return self._clock() - self._last_used < KEEP_SECONDS

    def wiki(self) -> WikiClient:
        """The mapping's wiki session; it logs in lazily and stays logged in between passes."""
        if self._wiki is not None and not self._fresh():
            self._wiki.close()
            self._wiki = None
        if self._wiki is None:
            self._wiki = WikiClient(self.wiki_settings)
        return self._wiki

    @contextmanager
    def open_mailbox(self, settings: MailboxSettings) -> Iterator[ImapMailbox]:
        """The mapping's IMAP session for one pass (`MailboxSync`'s `open_mailbox`).

        It is logged in on first use and kept when the pass ends normally; a pass that raises
        logs it out, as the connection may be in any state.
        """
        if self._imap is not None and not self._fresh():
            self._imap.close()
            self._imap = None
        if self._imap is None:
            imap = ImapMailbox(settings.name, settings.account)
            imap.connect()
            self._imap = imap
        else:
            self._imap.reuse()
        try:
            yield self._imap
        except BaseException:
            self._imap.close()
            self._imap = None
            raise

    def pass_ended(self, failed: bool) -> None:
        """Keep the sessions for the next pass, or close them after a failed pass."""
        if failed:
            self.close()
        else:
            self._last_used = self._clock()

    def close(self) -> None:
        """Log out of both sessions."""
        if self._imap is not None:
            self._imap.close()
            self._imap = None
        if self._wiki is not None:
            self._wiki.close()
            self._wiki = None
