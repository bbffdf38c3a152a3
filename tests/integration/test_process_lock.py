"""One process per state store, against the real servers: a second writer is refused (or waits),
readers are not, and concurrent passes on one state never double a mail or end in a traceback."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.integration.service_support import BridgeProcess, marker_counts, page_texts, wait_until
from tests.integration.support import Space, WikiReader, make_mail
from tests.servers import MediaWikiServer


def _stderr(process: BridgeProcess) -> str:
    return "\n".join(process.raw_stderr)


def test_writers_are_refused_while_the_daemon_runs_and_readers_are_not(space: Space) -> None:
    """`once`, `run`, `backfill` and `state rebuild` exit 1 naming the daemon; `once --wait` waits."""
    space.append(make_mail("lock-first@example.de", "Lock first"))
    # A long poll interval: after its first pass the daemon only holds the lock.
    space.write_config(poll_interval=3600)
    daemon = BridgeProcess(space.config_path, ["run"])
    waiter: BridgeProcess | None = None
    try:
        daemon.wait_for_event("pass.finished", mailbox="sales", timeout=120)
        for args in (
            ["once"],
            ["run"],
            ["backfill", "--mailbox", "sales"],
            ["state", "rebuild", "--mailbox", "sales"],
        ):
            refused = space.cli(*args)
            assert refused.returncode == 1, (args, refused.stdout, refused.stderr)
            assert f"is in use by process {daemon.pid} on " in refused.stderr, refused.stderr
            assert f"--config {space.config_path} run, since " in refused.stderr
            assert str(space.state_path) in refused.stderr
            assert "Traceback" not in refused.stderr
        # A reload (SIGHUP) keeps the lock.
        daemon.send(signal.SIGHUP)
        daemon.wait_for_event("daemon.reloaded", timeout=60)
        assert f"is in use by process {daemon.pid} on " in space.cli("once").stderr
        for args in (["status", "--json"], ["failures", "list"], ["quarantine", "list"]):
            reading = space.cli(*args)
            assert reading.returncode == 0, (args, reading.stderr)
        assert '"published": 1' in space.cli("status", "--json").stdout

        space.append(make_mail("lock-second@example.de", "Lock second"))
        waiter = BridgeProcess(space.config_path, ["once", "--wait"])
        wait_until(
            lambda: f"waiting for process {daemon.pid}" in _stderr(waiter),
            120,
            "once --wait to report the holder",
        )
        assert waiter.running
        assert daemon.terminate(60)[0] == 0
        assert waiter.wait(180) == 0, _stderr(waiter)
        assert any(line.startswith("sales: 1 published") for line in waiter.stdout), waiter.stdout
    finally:
        daemon.close()
        if waiter is not None:
            waiter.close()


def test_concurrent_passes_on_one_state_publish_each_mail_once(
    space: Space, mediawiki: MediaWikiServer, reader: WikiReader
) -> None:
    """Three `once` started together: each either runs or is refused cleanly; no mail is doubled.

    Then three `once --wait` together: all run, one after the other, and still nothing doubles.
    """
    ids = [f"conc-{n}@example.de" for n in range(24)]
    for n, message_id in enumerate(ids[:12]):
        space.append(make_mail(message_id, f"Concurrent {n % 4}"))
    space.write_config(batch_size=3)
    _run_together(space, [["once"]] * 3, may_be_refused=True)
    for n, message_id in enumerate(ids[12:]):
        space.append(make_mail(message_id, f"Concurrent waiting {n % 4}"))
    _run_together(space, [["once", "--wait"]] * 3, may_be_refused=False)
    counts = marker_counts(page_texts(mediawiki, space.prefix).values())
    assert {message_id: counts[message_id] for message_id in ids} == dict.fromkeys(ids, 1)


def _run_together(space: Space, commands: list[list[str]], may_be_refused: bool) -> None:
    processes = [BridgeProcess(space.config_path, args) for args in commands]
    try:
        codes = [process.wait(300) for process in processes]
        for process, code in zip(processes, codes, strict=True):
            stderr = _stderr(process)
            assert "Traceback" not in stderr and "IntegrityError" not in stderr, stderr
            if code == 1 and may_be_refused:
                assert "is in use by process" in stderr, stderr
            else:
                assert code == 0, stderr
        assert 0 in codes
    finally:
        for process in processes:
            process.close()


def test_state_lock_file_sits_next_to_the_state(space: Space) -> None:
    """The lock file is `<state>.lock`, private, and empty once the process is done."""
    space.append(make_mail("lock-file@example.de", "Lock file"))
    space.write_config()
    assert space.cli("once").returncode == 0
    lock = Path(f"{space.state_path}.lock")
    assert lock.stat().st_mode & 0o077 == 0
    assert lock.read_text() == ""
