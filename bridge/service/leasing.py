"""Sharing the mailboxes among instances: heartbeat, renewal, fair share, takeover of expired leases.

Each lease period an instance says it is alive (heartbeat), renews the leases it holds, gives
up what exceeds its fair share (ceil(mailboxes / live instances)) once no pass of it runs, and
takes free or expired leases up to that share. A dead instance's heartbeat and leases expire
within `lease_seconds`; the survivors count one instance fewer and take its mailboxes at their
next tick. With SQLite there is one instance, whose share is every mailbox.
"""

from __future__ import annotations

import math
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import structlog

from bridge.adapters.state.ports import LeaseStore
from bridge.adapters.state.store import Lease
from bridge.errors import StateError
from bridge.service.config import Settings

log = structlog.get_logger("bridge.service.leasing")

TICKS_PER_LEASE = 3
"""Renewals per lease period: a lease survives two missed ticks (a slow store, a long pause)."""


def instance_id(configured: str, shared: bool) -> str:
    """The configured instance id, or one made now.

    With a `shared` store (PostgreSQL) it is host:pid:random, new at each start and unique among
    the instances. With SQLite the process lock already keeps every other process out, so the
    host name is used: a restart after a crash takes the leases back at once, without waiting
    for them to expire.
    """
    if configured:
        return configured
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}" if shared else socket.gethostname()


def own_id(settings: Settings) -> str:
    """This instance's id: `[service] instance_id`, or one made now (shared only with PostgreSQL)."""
    return instance_id(settings.service.instance_id, shared=settings.state.url is not None)


def fair_share(mailboxes: int, live: int) -> int:
    """The most mailboxes one of `live` instances takes while the others are alive."""
    return math.ceil(mailboxes / max(live, 1))


@dataclass
class LeaseChange:
    """What one tick changed: mailboxes taken (to be worked now), taken by others, given up."""

    gained: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.gained or self.lost or self.released)


@contextmanager
def holding(state: LeaseStore, mailbox: str, holder: str, seconds: float) -> Iterator[Lease | None]:
    """Hold the mailbox's lease for the block (None: another instance holds it), renewed meanwhile.

    For one pass outside the daemon (`once`): a thread renews it every period / TICKS_PER_LEASE,
    and it is released at the end.
    """
    lease = state.acquire_lease(mailbox, holder, seconds)
    if lease is None:
        yield None
        return
    done = threading.Event()

    def renew() -> None:
        while not done.wait(seconds / TICKS_PER_LEASE):
            try:
                if state.renew_lease(lease) is None:
                    return
            except StateError as exc:  # the pass's fenced writes stop it if the lease runs out
                log.error("lease.renewal_failed", mailbox=mailbox, error=str(exc))

    renewer = threading.Thread(target=renew, name=f"lease {mailbox}", daemon=True)
    renewer.start()
    try:
        yield lease
    finally:
        done.set()
        renewer.join()
        try:
            state.release_lease(lease)
        except StateError as exc:  # it expires by itself within lease_seconds
            log.error("lease.release_failed", mailbox=mailbox, error=str(exc))


class LeaseKeeper:
    """The leases one instance holds, kept by `tick` (called every lease period / TICKS_PER_LEASE)."""

    def __init__(self, state: LeaseStore, instance: str, seconds: float) -> None:
        self.state = state
        self.instance = instance
        self.seconds = seconds
        self.live = 0
        self._held: dict[str, Lease] = {}
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._log = log.bind(instance=instance)

    def lease(self, mailbox: str) -> Lease | None:
        """The lease this instance holds on `mailbox`, or None."""
        with self._lock:
            return self._held.get(mailbox)

    def held(self) -> dict[str, Lease]:
        """Every lease this instance holds, by mailbox."""
        with self._lock:
            return dict(self._held)

    @contextmanager
    def busy(self, mailbox: str) -> Iterator[None]:
        """Mark `mailbox` busy for the block (a pass runs): it is not given up to balance meanwhile."""
        with self._lock:
            self._busy.add(mailbox)
        try:
            yield
        finally:
            with self._lock:
                self._busy.discard(mailbox)

    def keep(
        self,
        mailboxes: Callable[[], Iterable[str]],
        changed: Callable[[LeaseChange], None],
        stop: threading.Event,
    ) -> threading.Thread:
        """Tick now, then every lease period / TICKS_PER_LEASE until `stop`, telling `changed` each time.

        A thread of its own, not a scheduler job: busy passes must not delay the renewals.
        """
        changed(self.tick(mailboxes()))

        def loop() -> None:
            while not stop.wait(self.seconds / TICKS_PER_LEASE):
                changed(self.tick(mailboxes()))

        thread = threading.Thread(target=loop, name="leases", daemon=True)
        thread.start()
        return thread

    def drop(self, mailbox: str) -> None:
        """Forget a lease another instance took (a fenced write was refused)."""
        with self._lock:
            lost = self._held.pop(mailbox, None)
        if lost is not None:
            self._log.warning("lease.lost", mailbox=mailbox, fence=lost.token)

    def tick(self, mailboxes: Iterable[str]) -> LeaseChange:
        """Heartbeat, renew, give up the excess, take up to the fair share; return what changed.

        A store that cannot be reached leaves the leases as they are: they expire, and the
        fenced writes of a pass refuse to go on without them.
        """
        change = LeaseChange()
        names = list(dict.fromkeys(mailboxes))
        try:
            self.live = self.state.heartbeat(self.instance, self.seconds)
            for mailbox, lease in self.held().items():
                if mailbox not in names:  # removed from the configuration by a reload
                    self._give_up(lease, change)
                    continue
                renewed = self.state.renew_lease(lease)
                with self._lock:
                    if renewed is None:
                        self._held.pop(mailbox, None)
                    else:
                        self._held[mailbox] = renewed
                if renewed is None:
                    change.lost.append(mailbox)
                    self._log.warning("lease.lost", mailbox=mailbox, fence=lease.token)
            self._balance(names, fair_share(len(names), self.live), change)
        except StateError as exc:
            self._log.error("lease.tick_failed", error=str(exc))
        return change

    def _balance(self, names: list[str], share: int, change: LeaseChange) -> None:
        held = self.held()
        with self._lock:
            idle = [mailbox for mailbox in sorted(held) if mailbox not in self._busy]
        # Over the share (another instance came up): give up idle mailboxes; busy ones next tick.
        for mailbox in idle[: max(len(held) - share, 0)]:
            self._give_up(held.pop(mailbox), change)
        for mailbox in names:
            if len(held) >= share:
                break
            if mailbox in held:
                continue
            lease = self.state.acquire_lease(mailbox, self.instance, self.seconds)
            if lease is not None:
                held[mailbox] = lease
                with self._lock:
                    self._held[mailbox] = lease
                change.gained.append(mailbox)
                self._log.info(
                    "lease.acquired", mailbox=mailbox, fence=lease.token, share=share, live=self.live
                )

    def _give_up(self, lease: Lease, change: LeaseChange) -> None:
        with self._lock:
            self._held.pop(lease.mailbox, None)
        self.state.release_lease(lease)
        change.released.append(lease.mailbox)
        self._log.info("lease.released", mailbox=lease.mailbox, fence=lease.token)

    def stop(self) -> None:
        """Release every lease and the heartbeat (clean stop): the others take over at once."""
        try:
            for lease in self.held().values():
                self.state.release_lease(lease)
                self._log.info("lease.released", mailbox=lease.mailbox, fence=lease.token)
            self.state.leave(self.instance)
        except StateError as exc:  # they expire by themselves within lease_seconds
            self._log.error("lease.release_failed", error=str(exc))
        with self._lock:
            self._held.clear()
