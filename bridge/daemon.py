"""The long-running service: one APScheduler job per mailbox, clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import threading
from datetime import datetime
from types import FrameType

import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from bridge.config import MailboxSettings, Settings
from bridge.dryrun import PlanningSender, PlanningWiki
from bridge.errors import BridgeError
from bridge.imap import ImapMailbox
from bridge.outbox import Outbox, Sender
from bridge.smtp import Mailer
from bridge.state import QuarantinedMail, StateStore
from bridge.sync import MailboxSync, PassResult
from bridge.wiki import WikiClient

log = structlog.get_logger("bridge.daemon")


def run_pass(
    mailbox: MailboxSettings,
    settings: Settings,
    state: StateStore,
    stop: threading.Event | None = None,
    plan: list[str] | None = None,
) -> PassResult | None:
    """Run one pass of one mailbox; log and record a failure and return None instead of raising.

    One mailbox failing (wrong password, server down) must not stop the others. With `plan`
    (a dry run), the wiki and SMTP writes and the mailbox changes are described there instead.
    """
    wiki = WikiClient(settings.wiki) if plan is None else PlanningWiki(settings.wiki, plan)
    outbox = Outbox(mailbox, settings.smtp, state, settings.own_addresses(), wiki.page_url)
    mailer = Mailer(settings.smtp) if settings.smtp is not None and plan is None else None
    sender: Sender | None = mailer if plan is None else PlanningSender(plan)
    try:
        result = MailboxSync(mailbox, wiki, state, stop=stop, outbox=outbox, sender=sender, plan=plan).run()
    except BridgeError as exc:
        log.error("pass.failed", mailbox=mailbox.name, error=str(exc), kind=type(exc).__name__)
        state.record_pass(mailbox.name, str(exc))
        return None
    finally:
        wiki.close()
        if mailer is not None:
            mailer.close()
    state.record_pass(mailbox.name, None)
    return result


def release_quarantined(mailbox: MailboxSettings, state: StateStore, entry: QuarantinedMail) -> None:
    """Undo the quarantine of one mail (move it back, or clear its flag) and let the next pass publish it."""
    with ImapMailbox(mailbox) as imap:
        if mailbox.quarantine == "move":
            imap.select(mailbox.quarantine_folder, writable=True)
            imap.move(imap.find_message(entry.message_id), entry.folder)
            # Back in its folder under a new UID above the read position: the next pass reads it.
            state.release(mailbox.name, entry.message_id, entry.folder, entry.uidvalidity, 0)
        else:
            status = imap.select(entry.folder, writable=True)
            imap.remove_flags([entry.uid], [mailbox.quarantine_flag])
            state.release(mailbox.name, entry.message_id, entry.folder, status.uidvalidity, entry.uid)
    log.info("quarantine.released", mailbox=mailbox.name, message_id=entry.message_id)


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
