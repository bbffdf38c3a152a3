"""IMAP IDLE watchers: one connection per folder that triggers a pass as soon as mail arrives.

Each watcher re-issues IDLE before the server's 29-minute limit (RFC 2177), polls with NOOP
where IDLE is missing, and reconnects with exponential backoff and jitter when the server or
the network drops. The scheduled poll stays as the safety net.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

import structlog

from bridge.adapters.imap import ImapMailbox
from bridge.errors import BridgeError
from bridge.service.config import MailboxSettings

log = structlog.get_logger("bridge.service.idle")
MAX_BACKOFF = 300.0


class IdleWatcher:
    """Watches one folder of one mapping in a background thread."""

    def __init__(
        self,
        settings: MailboxSettings,
        folder: str,
        on_new_mail: Callable[[str], None],
        on_connection: Callable[[str, bool], None],
    ) -> None:
        self.settings = settings
        self.folder = folder
        self._on_new_mail = on_new_mail
        self._on_connection = on_connection
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"idle:{settings.name}:{folder}", daemon=True)
        self._log = log.bind(mailbox=settings.name, folder=folder)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching; the thread leaves IDLE within about a second."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                with ImapMailbox(self.settings.name, self.settings.account) as imap:
                    imap.select(self.folder)
                    self._on_connection(self.settings.name, True)
                    self._log.info("idle.connected", idle=imap.supports_idle)
                    delay = 1.0
                    # Mail that arrived while no watcher was connected is picked up at once.
                    self._on_new_mail(self.settings.name)
                    while not self._stop.is_set():
                        if imap.wait_for_mail(self.settings.polling.idle_refresh_seconds, self._stop):
                            self._log.debug("idle.new_mail")
                            self._on_new_mail(self.settings.name)
            except BridgeError as exc:
                self._on_connection(self.settings.name, False)
                # Full jitter keeps many watchers from reconnecting in lockstep after an outage.
                wait = random.uniform(0, delay)  # noqa: S311 - jitter, not cryptography
                self._log.warning("idle.disconnected", error=str(exc), retry_in=round(wait, 1))
                self._stop.wait(wait)
                delay = min(delay * 2, MAX_BACKOFF)
        self._on_connection(self.settings.name, False)
