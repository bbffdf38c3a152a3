"""Edits on lanes of their own (`[wiki] concurrency` of them): never two to one page, in plan order per page.

Each piece of work names the pages (threads, titles) it may edit. It is handed over once no
handed-over work shares a page with it and at most one piece waits for a free lane (so a lane
goes on to the next edit without waiting for the caller); until then the plan waits, so work on
one page runs in the order of the plan. Each piece does its own intent → edit → confirm on its
thread; what it reports back (`done`) runs on the caller's thread. When one piece fails, the
pieces already handed over are let finish (and reported), then the error is raised.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Hashable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from bridge.sync.actions import PublishGroup


@dataclass
class _Running:
    keys: frozenset[Hashable]
    future: Future[Any]
    done: Callable[[Any], None]


class Lanes:
    """Runs work on up to `workers` threads, one piece per page at a time; use as a context manager."""

    WAITING = 1
    """Pieces handed over beyond the lanes, to start the moment a lane is free."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="bridge-edit")
        self._running: list[_Running] = []

    def __enter__(self) -> Lanes:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.drain()
            else:
                wait([r.future for r in self._running])
        finally:
            self._pool.shutdown(wait=True)

    def submit(self, keys: frozenset[Hashable], work: Callable[[], Any], done: Callable[[Any], None]) -> None:
        """Hand `work` over once no handed-over work shares one of `keys` and a lane is free or
        only `WAITING` pieces wait for one."""
        self._wait_until(lambda: len(self._running) < self.workers + self.WAITING and not self._shared(keys))
        # In a copy of the caller's context: the pass's lease fences the lane's writes too.
        future = self._pool.submit(contextvars.copy_context().run, work)
        self._running.append(_Running(keys, future, done))

    def wait_clear(self, keys: frozenset[Hashable]) -> None:
        """Wait until no running work shares one of `keys` (reporting what finished meanwhile)."""
        self._wait_until(lambda: not self._shared(keys))

    def _shared(self, keys: frozenset[Hashable]) -> bool:
        return any(keys & r.keys for r in self._running)

    def _wait_until(self, ready: Callable[[], bool]) -> None:
        while True:
            self._collect()
            if ready():
                return
            wait([r.future for r in self._running], return_when=FIRST_COMPLETED)

    def drain(self) -> None:
        """Wait for all running work and report it."""
        wait([r.future for r in self._running])
        self._collect()

    def _collect(self) -> None:
        """Report finished work (on the caller's thread); raise the first failure once all is done."""
        finished = [r for r in self._running if r.future.done()]
        errors = [error for r in finished if (error := r.future.exception()) is not None]
        if errors:
            # The others finish their edits and confirmations before the pass stops.
            wait([r.future for r in self._running])
            finished = self._running
        self._running = [r for r in self._running if r not in finished]
        for r in finished:
            if r.future.exception() is None:
                r.done(r.future.result())
        if errors:
            raise errors[0]


def pages_of(action: PublishGroup, merge_target: Callable[[int], int]) -> frozenset[Hashable]:
    """What a group's publishing may edit: its threads (as merged so far), its page, its new title.

    Groups of one subject share the title, so two new threads never race for the same title.
    """
    keys: set[Hashable] = {("title", action.new_title)}
    if action.page is not None:
        keys.add(("page", action.page))
    group = action.group
    if group.thread_id is not None:
        keys.update(("thread", merge_target(t)) for t in (group.thread_id, *group.also_linked))
    return frozenset(keys)
