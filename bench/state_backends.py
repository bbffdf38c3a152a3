"""SQLite and PostgreSQL state stores side by side: protocol steps, batch look-ups, `state migrate`.

Starts a throwaway PostgreSQL cluster (tests/servers.py) and, for each backend, records N
messages (threads of 5) through the store's own calls, one transaction per call as a pass makes
them: `new_thread`, `record_intent`, `confirm`. Then it times the look-ups a batch of 50 new
mails costs (`known_message_ids`, `fingerprints`, `threads_for_ids`) on the full store, and
finally copies the SQLite store into an empty PostgreSQL database as `state migrate` does. The
PostgreSQL database is analysed after the fill, as autovacuum does within a minute.

    .venv/bin/python bench/state_backends.py             # N = 20,000
    .venv/bin/python bench/state_backends.py --messages 100000

The cluster runs with fsync off (it is thrown away), so PostgreSQL's write figures are those of
a server with a fast disk; SQLite writes with its usual WAL settings.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bridge.adapters.state.store import (
    IntendedMessage,
    PostgresStateStore,
    SqliteStateStore,
    StateStore,
)
from bridge.adapters.state.transfer import copy_state
from bridge.service.config import StateSettings
from tests.servers import PostgresServer, start_postgres

MAILBOX = "bench"
THREAD = 5  # messages per thread
BATCH = 50  # mails per look-up batch, as a pass reads them


def message_id(number: int) -> str:
    return f"m{number}@bench.example"


def fill(store: StateStore, messages: int) -> float:
    """Record `messages` as published, thread by thread; return the seconds per thread."""
    started = time.perf_counter()
    threads = 0
    for first in range(0, messages, THREAD):
        ids = [message_id(n) for n in range(first, min(first + THREAD, messages))]
        thread = store.new_thread(MAILBOX, f"Bench/Thread {first}")
        intents = [
            IntendedMessage(mid, (ids[0], f"ref-{mid}"), "INBOX", n + 1, f"hash-{mid}", 2000)
            for n, mid in enumerate(ids, start=first)
        ]
        store.record_intent(MAILBOX, thread, intents)
        store.confirm(MAILBOX, thread, f"Bench/Thread {first}", ids, revision=first + 1)
        threads += 1
    return (time.perf_counter() - started) / threads


def lookups(store: StateStore, messages: int, rounds: int) -> float:
    """Median seconds of one batch's look-ups (half known ids, half new) on the full store."""
    times: list[float] = []
    for round_ in range(rounds):
        start = (round_ * 997) % max(1, messages - BATCH)
        ids = [message_id(start + n) for n in range(BATCH // 2)] + [
            f"new-{round_}-{n}@bench.example" for n in range(BATCH // 2)
        ]
        started = time.perf_counter()
        store.known_message_ids(MAILBOX, ids)
        store.fingerprints(MAILBOX, ids)
        store.threads_for_ids(MAILBOX, ids)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(
    name: str, opened: StateStore, analyze: Callable[[], object], messages: int, rounds: int
) -> tuple[float, float]:
    try:
        per_thread = fill(opened, messages)
        analyze()
        batch = lookups(opened, messages, rounds)
    finally:
        opened.close()
    print(
        f"{name:<11} {messages:>9,} {per_thread * 1000 / 3:>12.2f} {per_thread * 1000:>11.2f} "
        f"{batch * 1000:>12.2f}",
        flush=True,
    )
    return per_thread, batch


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison and print one line per backend and the migration's throughput."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=20000, help="messages recorded (default 20000)")
    parser.add_argument("--rounds", type=int, default=200, help="look-up batches timed (default 200)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ewb-bench-") as tmp:
        directory = Path(tmp)
        directory.chmod(0o755)  # the cluster runs as the postgres user when we are root
        server: PostgresServer = start_postgres(directory / "pg")
        try:
            sqlite_path = directory / "state.sqlite3"
            print(
                f"{'backend':<11} {'messages':>9} {'ms per call':>12} {'ms/thread':>11} {'ms per batch':>12}"
            )
            measure("sqlite", SqliteStateStore(sqlite_path), lambda: None, args.messages, args.rounds)
            # Statistics as autovacuum gathers them within a minute of the fill.
            shared = PostgresStateStore(StateSettings(url=server.create_database("bench")))
            measure("postgresql", shared, lambda: server.sql("ANALYZE", "bench"), args.messages, args.rounds)
            source = SqliteStateStore(sqlite_path)
            target = PostgresStateStore(StateSettings(url=server.create_database("migrated")))
            try:
                started = time.perf_counter()
                copies = copy_state(source, target)
                seconds = time.perf_counter() - started
            finally:
                source.close()
                target.close()
            rows = sum(copy.target for copy in copies)
            rate = rows / seconds
            print(f"state migrate: {rows:,} rows in {seconds:.2f} s ({rate:,.0f} rows/s), counts equal")
        finally:
            server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
