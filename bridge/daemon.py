"""The long-running service: one APScheduler job per mailbox, clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import threading
from datetime import datetime
from types import FrameType

import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from bridge.config import MailboxSettings, Settings
from bridge.errors import BridgeError
from bridge.state import StateStore
from bridge.sync import MailboxSync, PassResult
from bridge.wiki import WikiClient

log = structlog.get_logger("bridge.daemon")


def run_pass(
    mailbox: MailboxSettings, settings: Settings, state: StateStore, stop: threading.Event | None = None
) -> PassResult | None:
    """Run one pass of one mailbox; log and record a failure and return None instead of raising.

    One mailbox failing (wrong password, server down) must not stop the others.
    """
    wiki = WikiClient(settings.wiki)
    try:
        result = MailboxSync(mailbox, wiki, state, stop=stop).run()
    except BridgeError as exc:
        log.error("pass.failed", mailbox=mailbox.name, error=str(exc), kind=type(exc).__name__)
        state.record_pass(mailbox.name, str(exc))
        return None
    finally:
        wiki.close()
    state.record_pass(mailbox.name, None)
    return result


class Daemon:
    """Schedules passes; a pass of one mailbox never overlaps another pass of the same mailbox."""

    def __init__(self, settings: Settings, state: StateStore) -> None:
        self.settings = settings
        self.state = state
        self.stop = threading.Event()
        self._scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    def _job(self, mailbox: MailboxSettings) -> None:
        if not self.stop.is_set():
            run_pass(mailbox, self.settings, self.state, stop=self.stop)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("daemon.stopping", signal=signal.Signals(signum).name)
        self.stop.set()

    def run(self) -> None:
        """Start the jobs (each mailbox at once, then every poll_interval) and block until a signal."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for mailbox in self.settings.mailboxes:
            self._scheduler.add_job(
                self._job,
                "interval",
                args=[mailbox],
                seconds=mailbox.poll_interval,
                id=f"mailbox:{mailbox.name}",
                name=f"poll {mailbox.name}",
                next_run_time=datetime.now().astimezone(),
            )
        self._scheduler.start()
        log.info("daemon.started", mailboxes=[m.name for m in self.settings.mailboxes])
        self.stop.wait()
        # wait=True lets the pass in flight finish its current message; the stop event makes it
        # return at the next message boundary.
        self._scheduler.shutdown(wait=True)
        log.info("daemon.stopped")
