"""The bench's CPU meters (bench/instrument.py): nested calls count once, per thread."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter

from bench.instrument import ROOT, BridgeRun, Meters


def _work() -> int:
    return sum(range(20_000))


def test_a_metered_call_inside_another_counts_for_the_outermost_only() -> None:
    meters = Meters()
    inner = meters.wrap("state", _work)
    outer = meters.wrap("render", lambda: inner() + _work())
    outer()
    assert meters.calls == Counter({"render": 1})
    inner()
    assert meters.calls == Counter({"render": 1, "state": 1})
    assert meters.seconds["render"] >= 0.0


def test_calls_on_other_threads_are_metered_each_on_their_own() -> None:
    meters = Meters()
    metered = meters.wrap("parse", _work)
    threads = [threading.Thread(target=metered) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert meters.calls["parse"] == 4


def test_other_cpu_is_what_the_metered_entry_points_do_not_explain() -> None:
    run = BridgeRun(exit_code=0, wall=10.0, startup=0.5, cpu_total=5.0, cpu={"parse": 1.0, "render": 2.5})
    assert run.cpu_other == 1.5
    assert BridgeRun(0, 1.0, 0.1, 1.0, {"render": 2.0}).cpu_other == 0.0


def test_peak_memory_is_the_process_own_not_that_of_the_process_that_spawned_it() -> None:
    """A parent holding 200 MB spawns the bridge's runner: the runner reports its own few MB
    (`ru_maxrss` would report the parent's 200 MB, inherited across exec)."""
    ballast = bytearray(200 * 2**20)
    ballast[:: 2**12] = b"\x01" * len(ballast[:: 2**12])  # resident, page by page
    child = subprocess.run(
        [sys.executable, "-c", "from bench.instrument import peak_rss_kb; print(peak_rss_kb())"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert len(ballast) == 200 * 2**20
    assert int(child.stdout) < 100 * 1024, child.stdout
