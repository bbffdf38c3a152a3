"""Runs one bridge command in a subprocess and tells where its CPU time went.

The parent side (`run_bridge`) starts ``python -m bench.instrument REPORT -- <bridge args>`` and
reaps it with `os.wait4`, which gives the process's CPU seconds (pandoc included, as the bridge
waits for its pandoc children). The child side (`main`) wraps the bridge's entry points for
parsing, threading, rendering and the state store with `time.thread_time()` meters (per thread,
so a pipelined bridge is measured right: time a thread waits on the wiki is not CPU), runs the
bridge's own CLI and writes the meters, the CPU time of its children (pandoc, counted as
rendering), its own peak RSS (`peak_rss_kb`) and when the command started and ended to REPORT
as JSON.

The meters are installed from outside: nothing in `bridge/` knows about them. A meter whose
entry point no longer exists (a refactoring) is listed as ``missing`` in the report, so the
bench says so instead of silently counting nothing.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

CATEGORIES = ("parse", "thread", "render", "state")
# Per category, the entry points to meter; an entry lists where the function may live (the
# first module that has it wins), so a function moving between modules is still found.
FUNCTIONS: dict[str, list[tuple[tuple[str, str], ...]]] = {
    "parse": [(("bridge.core.parsing", "parse_message"),)],
    "thread": [(("bridge.core.threads", "group_messages"),)],
    "render": [
        (("bridge.core.render.page", "render_message"),),
        (("bridge.core.render.page", "render_new_page"),),
        (("bridge.core.render.pandoc", "html_to_blocks"), ("bridge.core.render.html", "html_to_blocks")),
    ],
}
# Metered where they exist, not missed where they do not: pandoc's batch conversion ahead of
# rendering (on the pass's prefetching thread).
OPTIONAL = {"render": [("bridge.core.render.pandoc", "prepare_html")]}
STATE_CLASS = ("bridge.adapters.state.store", "SqliteStateStore")


class Meters:
    """CPU seconds and calls per category; nested metered calls count for the outermost one."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.missing: list[str] = []
        self._lock = threading.Lock()
        self._local = threading.local()

    def wrap(self, category: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """Return `function` metered as `category`."""

        @functools.wraps(function)
        def metered(*args: Any, **kwargs: Any) -> Any:
            if getattr(self._local, "active", False):
                return function(*args, **kwargs)
            self._local.active = True
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                self._local.active = False
                with self._lock:
                    self.seconds[category] += spent
                    self.calls[category] += 1

        return metered


def install(meters: Meters) -> None:
    """Replace the entry points by metered ones, wherever bound.

    Only what the CLI imports is loaded (importing every module would load, say, a PostgreSQL
    driver the bridge never uses and inflate its memory); a module imported later takes the
    metered function from the defining module, which is rebound too.
    """
    importlib.import_module("bridge.service.cli")
    for category, entries in FUNCTIONS.items():
        for places in entries:
            original = next(filter(None, (_find(module, name) for module, name in places)), None)
            if original is None:
                meters.missing.append(" or ".join(f"{module}.{name}" for module, name in places))
                continue
            _rebind(original, meters.wrap(category, original))
    for category, optional in OPTIONAL.items():
        for module_name, name in optional:
            if (function := _find(module_name, name)) is not None:
                _rebind(function, meters.wrap(category, function))
    store = getattr(importlib.import_module(STATE_CLASS[0]), STATE_CLASS[1], None)
    if store is None:
        meters.missing.append(".".join(STATE_CLASS))
        return
    for name, member in inspect.getmembers(store):
        if not name.startswith("_") and inspect.isfunction(inspect.getattr_static(store, name)):
            setattr(store, name, meters.wrap("state", member))


def _find(module_name: str, name: str) -> Callable[..., Any] | None:
    """The function `name` of `module_name`, or None when either does not exist."""
    try:
        function = getattr(importlib.import_module(module_name), name, None)
    except ModuleNotFoundError:
        return None
    return function if callable(function) else None


def _rebind(original: Callable[..., Any], metered: Callable[..., Any]) -> None:
    """Replace `original` in every bridge module that bound it (``from x import f`` included)."""
    for module_name, module in list(sys.modules.items()):
        if module_name == "bridge" or module_name.startswith("bridge."):
            for attr, value in list(vars(module).items()):
                if value is original:
                    setattr(module, attr, metered)


def peak_rss_kb() -> int:
    """This process's peak resident memory since it started the bridge's program, in KiB.

    The kernel's high-water mark of the process's own memory (``VmHWM``), not ``ru_maxrss``:
    that one also keeps the peak of the process image before ``exec``, i.e. of the bench that
    spawned it (its 10,000 mails in memory among others).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:  # noqa: PTH123 - a stream
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv: Sequence[str]) -> int:
    """Child side: run the bridge CLI with meters; write the report (see the module docstring)."""
    report_path, bridge_args = Path(argv[0]), list(argv[1:])
    meters = Meters()
    install(meters)
    from bridge.service.cli import main as bridge_main

    started = time.time()
    code = 1
    try:
        code = bridge_main(bridge_args)
    finally:
        ended = time.time()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = resource.getrusage(resource.RUSAGE_SELF)
        report = {
            "started": started,
            "ended": ended,
            "exit": code,
            "seconds": dict(meters.seconds),
            "calls": dict(meters.calls),
            "missing": meters.missing,
            "children_cpu": children.ru_utime + children.ru_stime,
            "own_cpu": own.ru_utime + own.ru_stime,
            "peak_rss_kb": peak_rss_kb(),
        }
        report_path.write_text(json.dumps(report))
    return code


@dataclass(frozen=True)
class BridgeRun:
    """One measured bridge command: times, CPU split and memory."""

    exit_code: int
    wall: float
    startup: float
    cpu_total: float
    cpu: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    missing_meters: tuple[str, ...] = ()

    @property
    def cpu_other(self) -> float:
        """CPU seconds outside the metered entry points (IMAP, HTTP, planning, start-up)."""
        return max(0.0, self.cpu_total - sum(self.cpu.values()))


def run_bridge(config: Path, command: Sequence[str], directory: Path) -> BridgeRun:
    """Run `email-wiki-bridge --config CONFIG COMMAND…` metered; its log goes to DIRECTORY/bridge.log.

    `wall` counts from the CLI's entry to its return (Python start-up and imports, the same for
    every run and not the bridge's work, are `startup`).
    """
    report = directory / f"report-{time.monotonic_ns()}.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    spawned = time.time()
    with (directory / "bridge.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.instrument", str(report), "--config", str(config), *command],
            cwd=directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:  # Ctrl-C: the bridge must not outlive the bench
            process.kill()
            process.wait()
            raise
        process.returncode = os.waitstatus_to_exitcode(status)
    data = json.loads(report.read_text()) if report.exists() else {}
    started = float(data.get("started", spawned))
    ended = float(data.get("ended", time.time()))
    seconds = {category: float(data.get("seconds", {}).get(category, 0.0)) for category in CATEGORIES}
    seconds["render"] += float(data.get("children_cpu", 0.0))  # pandoc
    return BridgeRun(
        exit_code=process.returncode,
        wall=ended - started,
        startup=started - spawned,
        cpu_total=usage.ru_utime + usage.ru_stime,
        cpu=seconds,
        peak_rss_mb=float(data.get("peak_rss_kb", 0)) / 1024,
        missing_meters=tuple(data.get("missing", ())),
    )


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if "--" in arguments:
        arguments.remove("--")
    sys.exit(main(arguments))
