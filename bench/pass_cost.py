"""Benchmark: the cost of a sync pass must not grow with the size of the state store.

For each store size N (default 1,000 and 100,000 known messages) the script builds a fresh
state store holding N messages in realistic threads (tests/mailgen.py), a fresh IMAP folder
whose read position is already past its old mail, and the wiki pages of the threads that new
mail will reply to. Then, five times per N, it delivers 10 new mails (5 replies to known
messages, appended to their existing pages, and 5 new conversations) and times one
`MailboxSync.run()`. Runs of the two sizes alternate, so load on the machine hits both alike.

It prints the median pass time per N with the time spent in IMAP, wiki and state calls and the
number of state calls and SQL statements, then `ratio: X.XX (target <= 1.5)` for
t(largest N) / t(smallest N), and exits 1 when the ratio is above the target.

Run from the repository root: ``.venv/bin/python bench/pass_cost.py`` (see bench/README.md).
It starts its own throwaway Dovecot and MediaWiki (tests/servers.py) and removes them after.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402 - after the sys.path set-up, like everything from the repository

from bridge.adapters.imap import FolderStatus, ImapMailbox  # noqa: E402
from bridge.adapters.imap_probe import HeaderProbe  # noqa: E402
from bridge.adapters.state.store import IntendedMessage, SqliteStateStore, StateStore  # noqa: E402
from bridge.adapters.wiki import WikiClient  # noqa: E402
from bridge.core.model import FetchedMail, FolderPosition  # noqa: E402
from bridge.core.render.titles import page_title  # noqa: E402
from bridge.service.config import (  # noqa: E402
    LogSettings,
    MailboxAccount,
    MailboxSettings,
    MailboxSpace,
    Secret,
    WikiSettings,
)
from bridge.service.logs import configure_logging  # noqa: E402
from bridge.sync.mailbox_pass import MailboxSync, PassResult  # noqa: E402
from tests.mailgen import (  # noqa: E402
    MailSpec,
    new_conversation,
    normalize,
    plan_mailbox,
    render_mail,
    reply_to,
)
from tests.servers import DovecotServer, MediaWikiServer, append_mail, start_dovecot, start_mediawiki  # noqa: E402

MAILBOX = "sales"
USER, PASSWORD = "team-sales", "secret-sales"
OLD_MAILS_IN_FOLDER = 20


# -- timing wrappers ---------------------------------------------------------------------------


@dataclass
class Clock:
    """Seconds spent per layer, and call counts, during one pass."""

    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: Counter[str] = field(default_factory=Counter)

    @contextmanager
    def timing(self, layer: str) -> Iterator[None]:
        """Add the time of the block to `layer`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[layer] += time.perf_counter() - start

    def reset(self) -> None:
        """Forget everything measured so far."""
        self.seconds.clear()
        self.calls.clear()


class TimedSession(requests.Session):
    """An HTTP session that adds the time of every wiki request to the clock."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        """Send the request, timed as wiki time."""
        self.clock.calls["wiki requests"] += 1
        with self.clock.timing("wiki"):
            return super().request(*args, **kwargs)


def timed_mailbox(clock: Clock) -> Callable[[MailboxSettings], ImapMailbox]:
    """Return an `open_mailbox` factory whose mailboxes add their IMAP time to the clock."""

    class TimedImapMailbox(ImapMailbox):
        """The real adapter; every protocol step is timed as IMAP time."""

        def connect(self, *args: Any, **kwargs: Any) -> None:
            with clock.timing("imap"):
                super().connect(*args, **kwargs)

        def close(self, *args: Any, **kwargs: Any) -> None:
            with clock.timing("imap"):
                super().close(*args, **kwargs)

        def select(self, *args: Any, **kwargs: Any) -> FolderStatus:
            with clock.timing("imap"):
                return super().select(*args, **kwargs)

        def uids_after(self, *args: Any, **kwargs: Any) -> list[int]:
            with clock.timing("imap"):
                return super().uids_after(*args, **kwargs)

        def message_id_headers(self, *args: Any, **kwargs: Any) -> dict[int, HeaderProbe]:
            with clock.timing("imap"):
                return super().message_id_headers(*args, **kwargs)

        def fetch(self, *args: Any, **kwargs: Any) -> Iterator[FetchedMail]:
            with clock.timing("imap"):
                mails = list(super().fetch(*args, **kwargs))
            yield from mails

    return lambda settings: TimedImapMailbox(settings.name, settings.account)


class TimedState:
    """Forwards every call to the real store, adding its time to the clock as state time."""

    def __init__(self, store: SqliteStateStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        """Return the store's attribute; methods come back wrapped in a timer."""
        target = getattr(self._store, name)
        if not callable(target):
            return target

        def timed(*args: Any, **kwargs: Any) -> Any:
            self._clock.calls["state calls"] += 1
            with self._clock.timing("state"):
                return target(*args, **kwargs)

        return timed


def count_sql(store: SqliteStateStore, clock: Clock) -> None:
    """Count the SQL statements the store runs (best effort: uses the store's connection)."""
    connection = getattr(store, "_db", None)
    if isinstance(connection, sqlite3.Connection):
        connection.set_trace_callback(lambda _statement: clock.calls.update(["SQL statements"]))


# -- set-up ------------------------------------------------------------------------------------


@dataclass
class Scenario:
    """One store size: its settings, store file, known threads and the pages already on the wiki."""

    size: int
    settings: MailboxSettings
    state_path: Path
    threads: dict[int, list[MailSpec]]
    titles: dict[int, str]
    targets: list[int]
    rng: random.Random
    first_choices: set[str]
    clock: Clock = field(default_factory=Clock)
    times: list[float] = field(default_factory=list)
    splits: list[dict[str, float]] = field(default_factory=list)
    counts: list[Counter[str]] = field(default_factory=list)
    fill_seconds: float = 0.0


def intended(spec: MailSpec, uid: int) -> IntendedMessage:
    """What the bridge records for a published message (its links are References + In-Reply-To)."""
    links = [normalize(ref) for ref in spec.references]
    if spec.parent_id is not None and normalize(spec.parent_id) not in links:
        links.append(normalize(spec.parent_id))
    return IntendedMessage(spec.normalized_id, tuple(links), "Archive", uid)


@contextmanager
def one_transaction(store: SqliteStateStore) -> Iterator[None]:
    """Bulk path: run the store's own write methods inside a single SQLite transaction.

    The public methods (`new_thread`, `record_intent`, `confirm`) run unchanged, with the same
    SQL; only their per-call BEGIN IMMEDIATE/COMMIT is suspended, so filling 100,000 messages
    costs one commit instead of ~50,000. Used for the pre-fill only, never while timing.
    """
    connection: sqlite3.Connection = store._db
    original = store._transaction

    @contextmanager
    def joined() -> Iterator[sqlite3.Connection]:
        yield connection

    store._transaction = joined  # type: ignore[method-assign]
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    finally:
        store._transaction = original  # type: ignore[method-assign]
    connection.execute("COMMIT")


def fill_state(path: Path, prefix: str, threads: dict[int, list[MailSpec]]) -> dict[int, str]:
    """Record every known message as published on its thread's page; return thread -> title."""
    store = SqliteStateStore(path)
    titles: dict[int, str] = {}
    taken: set[str] = set()
    next_attempt: Counter[str] = Counter()  # per first-choice title, as the bridge counts up
    uid = 0
    try:
        with one_transaction(store):
            for number, members in threads.items():
                first_choice = page_title(prefix, members[0].subject)
                attempt = next_attempt[first_choice] + 1
                while (title := page_title(prefix, members[0].subject, attempt)) in taken:
                    attempt += 1
                next_attempt[first_choice] = attempt
                taken.add(title)
                thread_id = store.new_thread(MAILBOX, title)
                intents = []
                for spec in members:
                    uid += 1
                    intents.append(intended(spec, uid))
                store.record_intent(MAILBOX, thread_id, intents)
                store.confirm(MAILBOX, thread_id, title, [i.message_id for i in intents], 1)
                titles[number] = title
    finally:
        store.close()
    return titles


def make_scenario(
    size: int, seed: int, dovecot: DovecotServer, wiki: MediaWikiServer, directory: Path, repeats: int
) -> Scenario:
    """Fill a store with `size` known messages, prepare the folder and the pages replies will need."""
    prefix = f"Bench{size}/Mail"
    folder = f"bench-{size}"
    plan = plan_mailbox(seed, size, shuffle=False)
    threads: dict[int, list[MailSpec]] = defaultdict(list)
    for spec in plan.specs:  # in date order, so members[0] is the thread's oldest known mail
        threads[spec.thread].append(spec)
    started = time.perf_counter()
    state_path = directory / f"state-{size}.sqlite3"
    titles = fill_state(state_path, prefix, threads)
    fill_seconds = time.perf_counter() - started

    # The folder holds some old (already published) mail; the store's position is past it.
    last_uid = 0
    for spec in plan.specs[-OLD_MAILS_IN_FOLDER:]:
        last_uid = append_mail(dovecot, USER, folder, render_mail(spec)) or last_uid
    settings = mailbox_settings(dovecot, folder, prefix)
    client = ImapMailbox(settings.name, settings.account)
    with client:
        validity = client.select(folder).uidvalidity
    store = SqliteStateStore(state_path)
    store.save_folder_position(MAILBOX, folder, FolderPosition(validity, last_uid))
    store.close()

    rng = random.Random(seed + size)  # noqa: S311 - reproducible benchmark data
    targets = rng.sample(sorted(threads), 5 * repeats)
    bot = WikiClient(wiki_settings(wiki))
    try:
        for number in targets:
            text = f"''Stand-in for a thread page (benchmark); {len(threads[number])} messages.''\n"
            bot.create_page(titles[number], text, "benchmark set-up")
    finally:
        bot.close()
    first_choices = {page_title(prefix, members[0].subject) for members in threads.values()}
    scenario = Scenario(
        size,
        mailbox_settings(dovecot, folder, prefix),
        state_path,
        threads,
        titles,
        targets,
        rng,
        first_choices,
    )
    scenario.fill_seconds = fill_seconds
    return scenario


def wiki_settings(wiki: MediaWikiServer) -> WikiSettings:
    """Settings for the throwaway wiki's bot account."""
    return WikiSettings(api_url=wiki.api_url, username=wiki.bot_login, password=Secret(wiki.bot_password))


def mailbox_settings(dovecot: DovecotServer, folder: str, prefix: str) -> MailboxSettings:
    """Settings of the benchmark mapping: one folder of team-sales, plain IMAP on loopback."""
    account = MailboxAccount(
        host=dovecot.host, port=dovecot.port, security="none", username=USER, password=Secret(PASSWORD)
    )
    return MailboxSettings(
        name=MAILBOX,
        account=account.model_copy(update={"folders": (folder,)}),
        space=MailboxSpace(page_prefix=prefix, categories=("Benchmark",)),
    )


# -- one measured pass -------------------------------------------------------------------------


def deliver_new_mail(scenario: Scenario, dovecot: DovecotServer, round_: int, count: int) -> None:
    """Deliver `count` new mails: half replies to known messages of targeted threads, half new threads."""
    rng = scenario.rng
    replies = count // 2
    base = max(spec.date for members in scenario.threads.values() for spec in members[-1:])
    for index in range(count):
        date = base + timedelta(days=round_ + 1, minutes=index)
        if index < replies:
            thread = scenario.threads[scenario.targets[round_ * replies + index]]
            spec = reply_to(rng, rng.choice(thread), date=date)
        else:
            # A subject no thread has yet: see the README on frequent subjects.
            spec = new_conversation(rng, date=date)
            while page_title(scenario.settings.space.page_prefix, spec.subject) in scenario.first_choices:
                spec = new_conversation(rng, date=date)
            scenario.first_choices.add(page_title(scenario.settings.space.page_prefix, spec.subject))
        append_mail(dovecot, USER, scenario.settings.account.folders[0], render_mail(spec))


def measure(scenario: Scenario, dovecot: DovecotServer, wiki: WikiClient, round_: int, count: int) -> None:
    """Deliver new mail and time one pass against the scenario's store."""
    deliver_new_mail(scenario, dovecot, round_, count)
    clock = scenario.clock
    store = SqliteStateStore(scenario.state_path)
    try:
        count_sql(store, clock)
        clock.reset()
        sync = MailboxSync(
            scenario.settings,
            wiki,
            cast(StateStore, TimedState(store, clock)),
            open_mailbox=timed_mailbox(clock),
        )
        started = time.perf_counter()
        result = sync.run()
        elapsed = time.perf_counter() - started
    finally:
        store.close()
    check(result, count)
    scenario.times.append(elapsed)
    scenario.splits.append(dict(clock.seconds))
    scenario.counts.append(Counter(clock.calls))


def check(result: PassResult, count: int) -> None:
    """Fail loudly when the pass did something else than what is being measured."""
    replies = count // 2
    expected = (count, replies, count - replies, 0)
    got = (result.published, len(result.pages_extended), len(result.pages_created), result.failed)
    if got != expected:
        raise SystemExit(
            f"unexpected pass (published, extended, created, failed): {got}, expected {expected}"
        )


# -- main --------------------------------------------------------------------------------------


def report(scenarios: Sequence[Scenario], target: float) -> float:
    """Print the table and the ratio line; return the ratio."""
    print(
        f"{'N':>9} {'fill':>7} {'median':>8} {'min':>7} {'max':>7} {'imap':>7} {'wiki':>7} {'state':>7}"
        f" {'other':>7} {'state calls':>12} {'SQL':>6} {'wiki req':>9}"
    )
    for s in scenarios:
        median = statistics.median(s.times)
        layers = {
            key: statistics.median(split.get(key, 0.0) for split in s.splits)
            for key in ("imap", "wiki", "state")
        }
        counts = {
            key: statistics.median(c.get(key, 0) for c in s.counts)
            for key in ("state calls", "SQL statements", "wiki requests")
        }
        print(
            f"{s.size:>9,} {s.fill_seconds:>6.1f}s {median:>7.3f}s"
            f" {min(s.times):>6.3f}s {max(s.times):>6.3f}s"
            f" {layers['imap']:>6.3f}s {layers['wiki']:>6.3f}s {layers['state']:>6.3f}s"
            f" {median - sum(layers.values()):>6.3f}s {counts['state calls']:>12.0f}"
            f" {counts['SQL statements']:>6.0f} {counts['wiki requests']:>9.0f}"
        )
    small, large = scenarios[0], scenarios[-1]
    ratio = statistics.median(large.times) / statistics.median(small.times)
    state_ratio = statistics.median(x.get("state", 0.0) for x in large.splits) / max(
        statistics.median(x.get("state", 0.0) for x in small.splits), 1e-9
    )
    print(f"state time ratio: {state_ratio:.2f} (informational)")
    for s in scenarios:
        per_subject = Counter(
            page_title(s.settings.space.page_prefix, m[0].subject) for m in s.threads.values()
        )
        title, most = per_subject.most_common(1)[0]
        print(
            f"N={s.size:,}: at most {most} threads share a subject ({title!r}); the next one's free "
            "title is found with one indexed query (State.titles_taken)"
        )
    print(f"ratio: {ratio:.2f} (target <= {target})")
    return ratio


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; exit status 1 when the pass-time ratio exceeds the target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,100000", help="known-message counts (default 1000,100000)")
    parser.add_argument("--repeats", type=int, default=5, help="passes per size (default 5)")
    parser.add_argument("--new-mails", type=int, default=10, help="new mails per pass (default 10)")
    parser.add_argument("--seed", type=int, default=4711)
    parser.add_argument("--target", type=float, default=1.5, help="highest acceptable ratio (default 1.5)")
    args = parser.parse_args(argv)
    sizes = sorted(int(size) for size in args.sizes.split(","))
    configure_logging(LogSettings(level="warning", format="console"))

    with (
        tempfile.TemporaryDirectory(prefix="ewb-bench-") as tmp,
        start_dovecot(users={USER: PASSWORD}) as dovecot,
        start_mediawiki() as wiki,
    ):
        scenarios = []
        for size in sizes:
            scenario = make_scenario(size, args.seed, dovecot, wiki, Path(tmp), args.repeats)
            threads, fill = len(scenario.threads), scenario.fill_seconds
            print(f"prepared N={size:,}: {threads:,} threads, store filled in {fill:.1f} s", flush=True)
            scenarios.append(scenario)
        timed_clients = {}
        for scenario in scenarios:
            timed_clients[scenario.size] = WikiClient(
                wiki_settings(wiki), session=TimedSession(scenario.clock)
            )
            timed_clients[scenario.size].login()  # the daemon keeps its session between passes
        for round_ in range(args.repeats):
            for scenario in scenarios:  # alternating sizes, so machine load affects both alike
                measure(scenario, dovecot, timed_clients[scenario.size], round_, args.new_mails)
        for timed in timed_clients.values():
            timed.close()
        ratio = report(scenarios, args.target)
    return 1 if ratio > args.target else 0


if __name__ == "__main__":
    sys.exit(main())
