"""The long-running service: one APScheduler job per mailbox (its pass, then the status page and its
report when due), clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import functools
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType

import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from bridge.adapters.imap import ImapMailbox
from bridge.adapters.smtp import Mailer
from bridge.adapters.state.ports import PassState, Releaser, StateStore, StatusReader
from bridge.adapters.state.store import MailboxStatus, QuarantinedMail
from bridge.adapters.wiki import WikiClient
from bridge.core.render.labels import Language
from bridge.errors import BridgeError, ConfigError, StateError
from bridge.service.config import MailboxSettings, ReplyMode, Settings, load_settings
from bridge.service.idle import IdleWatcher
from bridge.service.metrics import Metrics, serve
from bridge.service.notify import Notifier
from bridge.service.sessions import MappingSessions
from bridge.service.status_page import after_pass
from bridge.sync.actions import Action
from bridge.sync.mailbox_pass import MailboxSync, PassResult, open_imap
from bridge.sync.outbox import Outbox
from bridge.sync.people import people_pages
from bridge.sync.rebuild import guard_lost_state

log = structlog.get_logger("bridge.service.daemon")


def run_pass(
    mailbox: MailboxSettings,
    settings: Settings,
    state: PassState,
    stop: threading.Event | None = None,
    metrics: Metrics | None = None,
    sessions: MappingSessions | None = None,
) -> PassResult | None:
    """Run one pass of one mailbox; log and record a failure and return None instead of raising.

    One mailbox failing (wrong password, server down) must not stop the others. With
    `sessions` (the daemon's), the IMAP and wiki sessions of the last pass are used again.
    """
    wiki = sessions.wiki() if sessions is not None else WikiClient(settings.wiki)
    edits, retries = wiki.edits, wiki.retries
    outbox = _outbox(mailbox, settings, state, wiki)
    mailer = Mailer(settings.smtp) if settings.smtp is not None else None
    result: PassResult | None = None
    try:
        guard_lost_state(mailbox, wiki, state)
        opener = sessions.open_mailbox if sessions is not None else open_imap
        people = people_pages(mailbox, settings, wiki, state)
        sync = MailboxSync(
            mailbox,
            wiki,
            state,
            stop=stop,
            open_mailbox=opener,
            outbox=outbox,
            sender=mailer,
            concurrency=settings.wiki.concurrency,
            people=people,
        )
        result = sync.run()
        state.record_pass(mailbox.name, None, result.backlog)
    except Exception as exc:  # a bug must not stop the other mailboxes, nor hide from `status`
        result = None
        error = _failure(mailbox, exc)
        try:
            state.record_pass(mailbox.name, error)
        except StateError as unrecorded:  # e.g. the disk is still full: the log is all there is
            log.error("pass.unrecorded", mailbox=mailbox.name, error=str(unrecorded))
    finally:
        if sessions is not None:
            sessions.pass_ended(failed=result is None)
        else:
            wiki.close()
        if mailer is not None:
            mailer.close()
        if metrics is not None:
            metrics.record_pass(
                mailbox.name,
                result,
                wiki.edits - edits,
                wiki.retries - retries,
                _status_or_none(state, mailbox),
            )
    return result


def plan_pass(mailbox: MailboxSettings, settings: Settings, state: PassState) -> PlannedPass:
    """Plan one pass of one mailbox without carrying it out (a dry run): read, never write.

    Returns the counts and actions, or the error that kept it from planning (logged).
    """
    wiki = WikiClient(settings.wiki)
    try:
        guard_lost_state(mailbox, wiki, state, remember=False)
        sync = MailboxSync(mailbox, wiki, state, outbox=_outbox(mailbox, settings, state, wiki))
        result, actions = sync.plan()
        return PlannedPass(result, actions, None)
    except Exception as exc:  # a bug must not stop the other mailboxes
        return PlannedPass(None, [], _failure(mailbox, exc))
    finally:
        wiki.close()


@dataclass(frozen=True, slots=True)
class PlannedPass:
    """A dry run of one mailbox: what a pass would count and do, or why it could not be planned."""

    result: PassResult | None
    actions: list[Action]
    error: str | None


def _outbox(mailbox: MailboxSettings, settings: Settings, state: PassState, wiki: WikiClient) -> Outbox:
    """The link and refusal replies of one mapping."""
    return Outbox(
        mailbox.name,
        mailbox.replies,
        mailbox.space.language,
        settings.smtp,
        state,
        settings.own_addresses(),
        wiki.page_url,
        page_replies=_page_replies(mailbox) if mailbox.routes else None,
        insiders=settings.insiders(mailbox),
    )


def _page_replies(mailbox: MailboxSettings) -> Callable[[str], tuple[ReplyMode, Language]]:
    """The reply mode and language of the route a page of `mailbox` belongs to."""

    def replies(page_title: str) -> tuple[ReplyMode, Language]:
        routed = mailbox.for_page(page_title)
        return routed.replies.reply, routed.space.language

    return replies


def _failure(mailbox: MailboxSettings, exc: Exception) -> str:
    """Log why a pass failed; return the sentence for `status`."""
    expected = isinstance(exc, BridgeError)
    error = str(exc) if expected else f"unexpected error ({type(exc).__name__}: {exc}); please report it"
    log.error(
        "pass.failed", mailbox=mailbox.name, error=error, kind=type(exc).__name__, exc_info=not expected
    )
    return error


def _status_or_none(state: StatusReader, mailbox: MailboxSettings) -> MailboxStatus | None:
    """The mailbox's state for the gauges; an unreadable store leaves them as they were."""
    try:
        return state.mailbox_status(mailbox.name)
    except StateError:
        return None


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


class Daemon:
    """The service: scheduled passes, IDLE watchers, metrics, systemd notifications, signals.

    A pass of one mailbox never overlaps another pass of the same mailbox (one job each,
    `max_instances=1`); new mail seen by an IDLE watcher while a pass runs makes the job run
    again right after it. SIGHUP reloads the configuration between passes; SIGTERM and SIGINT
    stop after the thread edit in flight.
    """

    def __init__(
        self, config_path: Path, settings: Settings, state: StateStore, environ: Mapping[str, str]
    ) -> None:
        self.config_path = config_path
        self.settings = settings
        self.state = state
        self.environ = environ
        self.stop = threading.Event()
        self._reload = threading.Event()
        self._wake = threading.Event()
        self._again: dict[str, threading.Event] = {}
        self._pages = threading.Lock()
        self._watchers: dict[tuple[str, str], IdleWatcher] = {}
        self._connected: dict[tuple[str, str], bool] = {}
        self._sessions: dict[str, MappingSessions] = {}
        self.metrics = Metrics()
        self.notifier = Notifier(environ)
        self._scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    # -- jobs ----------------------------------------------------------------------------------

    def _mailbox(self, name: str) -> MailboxSettings | None:
        return next((m for m in self.settings.mailboxes if m.name == name), None)

    def _job(self, name: str) -> None:
        again = self._again.setdefault(name, threading.Event())
        again.set()
        while again.is_set() and not self.stop.is_set():
            again.clear()
            mailbox = self._mailbox(name)
            if mailbox is None:  # removed by a reload
                self._drop_sessions(name)
                return
            sessions = self._sessions_of(mailbox)
            result = run_pass(
                mailbox, self.settings, self.state, stop=self.stop, metrics=self.metrics, sessions=sessions
            )
            self.notifier.status(_status_line(name, result))
            if not self.stop.is_set():
                # One mailbox's job at a time keeps the status page (shared by all of them).
                with self._pages:
                    after_pass(mailbox, self.settings, self.state, passed=result is not None)

    def _sessions_of(self, mailbox: MailboxSettings) -> MappingSessions:
        """The mapping's kept sessions; new ones when a reload changed its settings or the wiki's."""
        kept = self._sessions.get(mailbox.name)
        if kept is None or not kept.fits(mailbox, self.settings.wiki):
            self._drop_sessions(mailbox.name)
            kept = self._sessions[mailbox.name] = MappingSessions(mailbox, self.settings.wiki)
        return kept

    def _drop_sessions(self, name: str) -> None:
        kept = self._sessions.pop(name, None)
        if kept is not None:
            kept.close()

    def trigger(self, name: str) -> None:
        """Run the mailbox's pass now (or right after the one in flight)."""
        self._again.setdefault(name, threading.Event()).set()
        job = self._scheduler.get_job(_job_id(name))
        if job is not None:
            job.modify(next_run_time=datetime.now().astimezone())

    def _schedule(self, mailbox: MailboxSettings, first_run: datetime | None) -> None:
        self._scheduler.add_job(
            self._job,
            "interval",
            args=[mailbox.name],
            seconds=mailbox.polling.poll_interval,
            id=_job_id(mailbox.name),
            name=f"poll {mailbox.name}",
            next_run_time=first_run,
            replace_existing=True,
        )

    def _start_watchers(self) -> None:
        wanted = {
            (m.name, folder): m
            for m in self.settings.mailboxes
            if m.polling.idle
            for folder in m.account.folders
        }
        for key in list(self._watchers):
            if key not in wanted or wanted[key] != self._watchers[key].settings:
                self._watchers.pop(key).stop()
                self._connected.pop(key, None)
        for key, mailbox in wanted.items():
            if key not in self._watchers:
                report = functools.partial(self._idle, folder=key[1])
                watcher = IdleWatcher(mailbox, key[1], self.trigger, report)
                self._watchers[key] = watcher
                watcher.start()

    def _idle(self, name: str, connected: bool, folder: str) -> None:
        self._connected[(name, folder)] = connected
        up = sum(1 for (mailbox, _), state in self._connected.items() if mailbox == name and state)
        self.metrics.idle_connected.labels(name).set(up)

    # -- signals and reload --------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reload.set()
        else:
            log.info("daemon.stopping", signal=signal.Signals(signum).name)
            self.stop.set()
        self._wake.set()

    def reload(self) -> None:
        """Read the config again; keep the old one (and say why) when the new one is invalid."""
        self.notifier.reloading()
        try:
            settings = load_settings(self.config_path, self.environ)
        except ConfigError as exc:
            log.error("daemon.reload_failed", problems=exc.problems)
            self.notifier.ready("reload failed; running with the previous configuration")
            return
        old = {m.name: m for m in self.settings.mailboxes}
        self.settings = settings
        for name in old.keys() - {m.name for m in settings.mailboxes}:
            if self._scheduler.get_job(_job_id(name)) is not None:
                self._scheduler.remove_job(_job_id(name))
        now = datetime.now().astimezone()
        for mailbox in settings.mailboxes:
            if old.get(mailbox.name) != mailbox:
                # Passes in flight finish with the settings they started with.
                self._schedule(mailbox, now)
        self._start_watchers()
        log.info("daemon.reloaded", mailboxes=[m.name for m in settings.mailboxes])
        self.notifier.ready(f"reloaded: {len(settings.mailboxes)} mailbox(es)")

    # -- main loop -----------------------------------------------------------------------------

    def run(self) -> None:
        """Start everything, tell systemd READY, and block until SIGTERM/SIGINT."""
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        server = None
        address = self.settings.service.metrics_address
        if address is not None:
            server = serve(self.metrics, address, lambda: self.settings.service.health_failure_seconds)
            log.info("metrics.listening", address=f"{address[0]}:{server.server_port}")
        if self.notifier.watchdog_seconds:
            self._scheduler.add_job(
                self.notifier.watchdog, "interval", seconds=self.notifier.watchdog_seconds / 2, id="watchdog"
            )
        now = datetime.now().astimezone()
        for mailbox in self.settings.mailboxes:
            self._schedule(mailbox, now)
        self._scheduler.start()
        self._start_watchers()
        log.info("daemon.started", mailboxes=[m.name for m in self.settings.mailboxes])
        self.notifier.ready(f"running: {len(self.settings.mailboxes)} mailbox(es)")
        while not self.stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._reload.is_set() and not self.stop.is_set():
                self._reload.clear()
                self.reload()
        self.notifier.stopping()
        for watcher in self._watchers.values():
            watcher.stop()
        # wait=True lets the pass in flight finish its current thread edit; the stop event makes
        # it return at the next message boundary.
        self._scheduler.shutdown(wait=True)
        for name in list(self._sessions):
            self._drop_sessions(name)
        if server is not None:
            server.shutdown()
        log.info("daemon.stopped")


def _job_id(name: str) -> str:
    return f"mailbox:{name}"


def _status_line(name: str, result: PassResult | None) -> str:
    if result is None:
        return f"{name}: last pass failed (see the log)"
    return f"{name}: {result.published} published, {result.replies_sent} replies, backlog {result.backlog}"
