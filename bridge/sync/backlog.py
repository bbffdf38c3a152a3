"""Reading a folder's new mail as whole threads, with the next batches read ahead on a thread of their own.

A pass (and `backfill`, the same machinery) first reads only the header probes of all the mail
it is to handle (Message-ID, size and the threading headers, 500 mails per FETCH; only the ids,
dates and sizes are kept of them, so ten times the mail needs little more memory), groups them
into threads as the planner would, and cuts the threads into batches of whole threads (up to
`batch_size` mails; a thread larger than that is a batch of its own, split only beyond
`LARGEST_BATCH` mails so memory stays bounded). So each thread is published with ONE edit,
however its mails are spread over the backlog. The batches are then read (bodies fetched,
parsed, HTML converted) by a prefetching thread, at most `AHEAD` batches ahead of the one being
published; the pass itself plans and publishes in order, with the usual intent → edit → confirm.

Batches are handled out of UID order, so the folder position moves only past the longest run
of handled UIDs from the start (`Watermark`): a pass cut short reads the rest again, and what
was published beyond the position is skipped by its Message-ID without fetching its body.
"""

from __future__ import annotations

import dataclasses
import queue
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date
from typing import Generic, TextIO, TypeVar, cast

import structlog

from bridge.adapters.imap import FolderStatus
from bridge.adapters.imap_probe import HeaderProbe, ProbeSummary
from bridge.core.model import FetchedMail, Message
from bridge.core.parsing import parse_threading
from bridge.sync.actions import Action, PublishGroup, Source
from bridge.sync.planner import Batch
from bridge.sync.ports import Mailbox, MailReader

log = structlog.get_logger("bridge.sync.backlog")
T = TypeVar("T")
R = TypeVar("R")
PROBE_CHUNK = 500
LARGEST_BATCH = 1000
AHEAD = 2
FIRST_BATCH_SHARE = 10


@dataclass
class Backlog:
    """What the header probes of a backlog tell, in little memory (ten thousand mails are common).

    `probes` keeps each mail's Message-ID and size (for telling copies apart while reading), and
    `headers` each distinct Message-ID's threading fields only, as a `Batch` the planner groups;
    later copies of an id are in `copies`, mail whose headers cannot be read in `loose`.
    """

    probes: dict[int, ProbeSummary] = dataclasses.field(default_factory=dict)
    headers: Batch = dataclasses.field(default_factory=Batch)
    copies: defaultdict[str, list[int]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    loose: list[int] = dataclasses.field(default_factory=list)


def read_backlog(imap: MailReader, folder: str, uidvalidity: int, uids: Sequence[int]) -> Backlog:
    """Read the header probes of `uids`, a few hundred per FETCH, keeping only what planning needs.

    Each chunk's probes (header bytes) are dropped once read, so memory grows by a few hundred
    bytes per mail, not by the probes' and parsed headers' kilobytes.
    """
    backlog = Backlog()
    for start in range(0, len(uids), PROBE_CHUNK):
        chunk = uids[start : start + PROBE_CHUNK]
        probes = imap.message_id_headers(chunk)
        for uid in chunk:
            probe = probes.get(uid)
            if probe is not None:
                backlog.probes[uid] = probe.summary()
            message = _threading_headers(probe, uid)
            if message is None:
                backlog.loose.append(uid)
            elif message.message_id in backlog.headers.messages:
                backlog.copies[message.message_id].append(uid)
            else:
                backlog.headers.messages[message.message_id] = message
                backlog.headers.sources[message.message_id] = Source(folder, uid, uidvalidity)
    return backlog


def _threading_headers(probe: HeaderProbe | None, uid: int) -> Message | None:
    """The probe's threading fields as a message of nothing else; None when they cannot be read."""
    if probe is None or not probe.threading.strip():
        return None
    try:
        # Its id is derived from the body too; in the plan it stands alone under a stand-in.
        message = parse_threading(probe.threading, f"uid-{uid}@backlog.invalid")
    except Exception:  # hostile headers: the body fetch records why this mail cannot be read
        return None
    # Interned: a thread's ids recur in every reply's References. In UTC: one shared tzinfo.
    return dataclasses.replace(
        message,
        message_id=sys.intern(message.message_id),
        references=tuple(sys.intern(reference) for reference in message.references),
        date=message.date.astimezone(UTC),
    )


def thread_batches(backlog: Backlog, plan: Callable[[Batch], list[Action]], size: int) -> list[list[int]]:
    """Cut the backlog into batches of whole threads, oldest thread first, as `plan` groups their headers.

    The first batch holds a tenth of `size` (or one thread). Copies of one Message-ID go with the
    first; mail whose headers cannot be read (or that is gone) comes last, in batches of its own:
    reading its body tells what it is.
    """
    copies = backlog.copies
    threads = [
        [
            uid
            for m, s in zip(a.group.messages, a.sources, strict=True)
            for uid in (s.uid, *copies.get(m.message_id, ()))
        ]
        for a in plan(backlog.headers)
        if isinstance(a, PublishGroup)
    ]
    batches: list[list[int]] = []
    for thread in [*threads, backlog.loose]:
        for start in range(0, len(thread), max(size, LARGEST_BATCH)):
            part = thread[start : start + max(size, LARGEST_BATCH)]
            # The first batch is small: the wiki's first edit waits only for its reading.
            limit = max(1, size // FIRST_BATCH_SHARE) if len(batches) == 1 else size
            if not batches or len(batches[-1]) + len(part) > limit:
                batches.append([])
            batches[-1].extend(part)
    return [sorted(batch) for batch in batches if batch]


def plan_backlog(
    imap: MailReader,
    folder: str,
    uidvalidity: int,
    uids: Sequence[int],
    plan: Callable[[Batch], list[Action]],
    size: int,
) -> tuple[list[list[int]], dict[int, ProbeSummary]]:
    """The batches of whole threads `uids` are read in, and their probes' Message-IDs and sizes.

    The threading headers are gone once this returns: only the batches and summaries stay.
    """
    backlog = read_backlog(imap, folder, uidvalidity, uids)
    return thread_batches(backlog, plan, size), backlog.probes


class Watermark:
    """The folder position over UIDs handled out of order: the end of the run handled from the start."""

    def __init__(self, uids: Sequence[int]) -> None:
        self._pending = sorted(uids)
        self._handled: set[int] = set()
        self._next = 0

    def handled(self, uids: Sequence[int]) -> int | None:
        """Record `uids` as handled; the highest UID the position may now pass, if it moved."""
        self._handled.update(uids)
        start = self._next
        while self._next < len(self._pending) and self._pending[self._next] in self._handled:
            self._next += 1
        return self._pending[self._next - 1] if self._next > start else None

    @property
    def left(self) -> int:
        """How many of the UIDs are not handled yet."""
        return len(set(self._pending) - self._handled)


class Prefetch(Generic[T, R]):
    """`load` of each item in order on a thread of its own, at most `AHEAD` results ahead of the reader.

    One item is loaded on the caller's thread. What `load` raises is raised to the reader in
    its turn; `close` (also on the reader's error) ends the thread before anything else goes on.
    """

    def __init__(self, load: Callable[[T], R], items: Sequence[T]) -> None:
        self._load = load
        self._items = items
        self._results: queue.Queue[tuple[R | None, BaseException | None]] = queue.Queue(AHEAD)
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        if len(items) > 1:
            self._thread = threading.Thread(target=self._run, name="bridge-prefetch", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        for item in self._items:
            try:
                result: tuple[R | None, BaseException | None] = (self._load(item), None)
            except BaseException as exc:  # handed to the reader, who raises it in its turn
                result = (None, exc)
            while not self._closed.is_set():
                try:
                    self._results.put(result, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if self._closed.is_set() or result[1] is not None:
                return

    def __iter__(self) -> Iterator[R]:
        if self._thread is None:
            yield from (self._load(item) for item in self._items)
            return
        for _ in self._items:
            loaded, error = self._results.get()
            if error is not None:
                raise error
            yield cast(R, loaded)  # set whenever error is None

    def close(self) -> None:
        """Stop reading ahead and wait for the thread's current item."""
        self._closed.set()
        if self._thread is not None:
            self._thread.join()


class SharedMailbox:
    """One IMAP session used by the pass and its prefetching thread: one command at a time."""

    def __init__(self, inner: Mailbox) -> None:
        self._inner = inner
        self._lock = threading.Lock()

    def select(self, folder: str, writable: bool = False) -> FolderStatus:
        """As `Mailbox.select`."""
        with self._lock:
            return self._inner.select(folder, writable)

    def uids_after(self, last_uid: int) -> list[int]:
        """As `Mailbox.uids_after`."""
        with self._lock:
            return self._inner.uids_after(last_uid)

    def uids_since(self, day: date) -> list[int]:
        """As `Mailbox.uids_since`."""
        with self._lock:
            return self._inner.uids_since(day)

    def message_id_headers(self, uids: Sequence[int]) -> dict[int, HeaderProbe]:
        """As `Mailbox.message_id_headers`."""
        with self._lock:
            return self._inner.message_id_headers(uids)

    def fetch(self, folder: str, uids: Sequence[int]) -> Iterator[FetchedMail]:
        """As `Mailbox.fetch`, the whole answer read under the lock."""
        with self._lock:
            mails = list(self._inner.fetch(folder, uids))
        return iter(mails)

    def find_message(self, message_id: str) -> list[int]:
        """As `Mailbox.find_message`."""
        with self._lock:
            return self._inner.find_message(message_id)

    def add_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        """As `Mailbox.add_flags`."""
        with self._lock:
            self._inner.add_flags(uids, flags)

    def remove_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        """As `Mailbox.remove_flags`."""
        with self._lock:
            self._inner.remove_flags(uids, flags)

    def move(self, uids: Sequence[int], folder: str) -> None:
        """As `Mailbox.move`."""
        with self._lock:
            self._inner.move(uids, folder)


@dataclass
class Progress:
    """Counts, rate and ETA of a long read: a bar on a terminal (`out`), else logged every 10 s."""

    total: int
    mailbox: str
    out: TextIO | None = sys.stderr
    done: int = 0
    started: float = dataclasses.field(default_factory=time.monotonic)
    _last_log: float = 0.0

    def advance(self, count: int) -> None:
        """Record `count` more handled mails and redraw."""
        self.done += count
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        if self.out is not None and self.out.isatty():
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            self.out.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} mails "
                f"{rate:5.1f}/s ETA {int(eta // 60)}m{int(eta % 60):02d}s"
            )
            self.out.flush()
        elif time.monotonic() - self._last_log >= 10 or self.done >= self.total:
            self._last_log = time.monotonic()
            log.info(
                "backlog.progress",
                mailbox=self.mailbox,
                done=self.done,
                total=self.total,
                rate=round(rate, 1),
                eta_s=int(eta),
            )

    def finish(self) -> None:
        """End the bar's line."""
        if self.out is not None and self.out.isatty():
            self.out.write("\n")
