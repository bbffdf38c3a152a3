"""The long-running service: one APScheduler job per mailbox it holds the lease of (its pass, then
the status page and its report when due), clean stop on SIGTERM/SIGINT."""

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

from bridge.adapters.smtp import Mailer
from bridge.adapters.state.ports import PassState, StateStore, StatusReader
from bridge.adapters.state.store import MailboxStatus
from bridge.adapters.wiki import WikiClient
from bridge.core.render.labels import Language
from bridge.errors import BridgeError, ConfigError, LeaseLostError, StateError
from bridge.service.config import MailboxSettings, ReplyMode, Settings, load_settings
from bridge.service.idle import IdleWatcher
from bridge.service.leasing import LeaseChange, LeaseKeeper, own_id
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
    `sessions` (the daemon's), the IMAP and wiki sessions of the last pass are used again. Only a
    lost lease (`LeaseLostError`, under `state.fenced`) is raised: this instance must stop
    working on the mailbox, and must not record anything for it either.
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
    except LeaseLostError:  # another instance works on the mailbox now: nothing to record or count
        raise
    except Exception as exc:  # a bug must not stop the other mailboxes, nor hide from `status`
        result = None
        error = _failure(mailbox, exc)
        try:
            state.record_pass(mailbox.name, error)
        except LeaseLostError:  # paused or cut off meanwhile: the failure is not this instance's
            raise
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
        self._watch_lock = threading.Lock()
        self.keeper = LeaseKeeper(state, own_id(settings), settings.service.lease_seconds)
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
            lease = self.keeper.lease(name)
            if mailbox is None or lease is None:  # removed by a reload, or another instance's
                self._drop_sessions(name)
                return
            sessions = self._sessions_of(mailbox)
            try:
                with self.keeper.busy(name), self.state.fenced(lease):
                    result = run_pass(mailbox, self.settings, self.state, self.stop, self.metrics, sessions)
            except LeaseLostError as exc:
                log.warning("pass.lease_lost", mailbox=name, error=str(exc))
                self.keeper.drop(name)
                self._start_watchers()
                return
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
        held = self.keeper.held()
        wanted = {
            (m.name, folder): m
            for m in self.settings.mailboxes
            if m.polling.idle and m.name in held
            for folder in m.account.folders
        }
        with self._watch_lock:  # the lease thread, the passes and the main loop restart them
            if self.stop.is_set():
                return
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

    def _leases_changed(self, change: LeaseChange) -> None:
        """After each lease tick: the gauges, IDLE watchers of held mailboxes, a pass for each gained one."""
        self.metrics.record_leases(self.keeper.instance, self.keeper.held(), self.keeper.live)
        if change:
            self._start_watchers()
        for name in change.gained:
            self.trigger(name)

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
        leases = self.keeper.keep(
            lambda: [m.name for m in self.settings.mailboxes], self._leases_changed, self.stop
        )
        self._scheduler.start()
        self._start_watchers()
        log.info(
            "daemon.started",
            mailboxes=[m.name for m in self.settings.mailboxes],
            instance=self.keeper.instance,
            held=sorted(self.keeper.held()),
        )
        self.notifier.ready(f"running: {len(self.settings.mailboxes)} mailbox(es)")
        while not self.stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._reload.is_set() and not self.stop.is_set():
                self._reload.clear()
                self.reload()
        self.notifier.stopping()
        leases.join()
        with self._watch_lock:  # a pass losing its lease meanwhile restarts none (stop is set)
            for watcher in self._watchers.values():
                watcher.stop()
        # wait=True lets the pass in flight finish its current thread edit; the stop event makes
        # it return at the next message boundary.
        self._scheduler.shutdown(wait=True)
        self.keeper.stop()
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
