"""The service's building blocks in isolation: sd_notify over a real datagram socket, XOAUTH2 token
caching with an injected clock, metrics and health with an injected time, and the systemd unit's
hardening score."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bridge.adapters.oauth import DEFAULT_LIFETIME, TokenSource
from bridge.adapters.state.store import MailboxStatus
from bridge.errors import MailboxError
from bridge.service.metrics import Metrics, serve
from bridge.service.notify import Notifier
from bridge.sync.mailbox_pass import PassResult

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "email-wiki-bridge.service"
MAX_EXPOSURE = 2.0


# -- sd_notify -------------------------------------------------------------------------------


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """A bound AF_UNIX datagram socket in a short directory (sun_path holds 107 bytes)."""
    directory = tempfile.mkdtemp(prefix="ewb-u-", dir="/tmp")
    path = f"{directory}/notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2.0)
    yield sock, path
    sock.close()
    shutil.rmtree(directory, ignore_errors=True)


def _datagram(sock: socket.socket) -> list[str]:
    return sock.recv(65536).decode("utf-8").split("\n")


def test_notifier_sends_each_state_as_one_datagram(notify_socket: tuple[socket.socket, str]) -> None:
    """READY with STATUS, STATUS, WATCHDOG, RELOADING and STOPPING arrive as systemd expects them."""
    sock, path = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
    assert notifier.enabled
    assert notifier.watchdog_seconds == 2.0
    notifier.ready("running: 1 mailbox(es)")
    assert _datagram(sock) == ["READY=1", "STATUS=running: 1 mailbox(es)"]
    notifier.status("sales: 3 published")
    assert _datagram(sock) == ["STATUS=sales: 3 published"]
    notifier.watchdog()
    assert _datagram(sock) == ["WATCHDOG=1"]
    notifier.reloading()
    assert _datagram(sock)[0] == "RELOADING=1"
    notifier.stopping()
    assert _datagram(sock)[0] == "STOPPING=1"


def test_notifier_reaches_an_abstract_socket() -> None:
    """A NOTIFY_SOCKET starting with "@" names the abstract namespace."""
    name = f"ewb-test-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        Notifier({"NOTIFY_SOCKET": "@" + name}).watchdog()
        assert _datagram(sock) == ["WATCHDOG=1"]


def test_notifier_without_a_manager_does_nothing_and_survives_a_vanished_one(tmp_path: Path) -> None:
    """Outside systemd nothing is sent; a socket that went away is logged, not raised."""
    silent = Notifier({})
    assert not silent.enabled
    assert silent.watchdog_seconds is None
    silent.ready("x")
    assert Notifier({"WATCHDOG_USEC": "soon"}).watchdog_seconds is None
    Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone")}).ready("x")


# -- XOAUTH2 tokens ---------------------------------------------------------------------------


class Clock:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _command(tmp_path: Path, stdout: str, *, stderr: str = "", code: int = 0) -> tuple[list[str], Path]:
    """A command that counts its runs in a file and prints `stdout` (and `stderr`), exiting `code`."""
    counter = tmp_path / "runs"
    script = tmp_path / "token.py"
    script.write_text(
        "import pathlib, sys\n"
        f"counter = pathlib.Path({str(counter)!r})\n"
        "counter.write_text(counter.read_text() + 'x' if counter.exists() else 'x')\n"
        f"sys.stdout.write({stdout!r})\n"
        f"sys.stderr.write({stderr!r})\n"
        f"sys.exit({code})\n"
    )
    return [sys.executable, str(script)], counter


def _runs(counter: Path) -> int:
    return len(counter.read_text()) if counter.exists() else 0


def test_plain_token_is_cached_until_shortly_before_its_default_lifetime(tmp_path: Path) -> None:
    """A bare token is kept for DEFAULT_LIFETIME minus a minute; then the command runs again."""
    command, counter = _command(tmp_path, "plain-token-1\n")
    clock = Clock()
    source = TokenSource(command, clock=clock)
    assert source.token() == "plain-token-1"
    clock.now += DEFAULT_LIFETIME - 61
    assert source.token() == "plain-token-1"
    assert (source.runs, _runs(counter)) == (1, 1)
    clock.now += 2
    assert source.token() == "plain-token-1"
    assert (source.runs, _runs(counter)) == (2, 2)


def test_json_token_follows_expires_in_and_invalidate(tmp_path: Path) -> None:
    """JSON output: access_token is used and expires_in decides when the command runs again."""
    command, counter = _command(tmp_path, json.dumps({"access_token": "json-token", "expires_in": 300}))
    clock = Clock()
    source = TokenSource(command, clock=clock)
    assert source.token() == "json-token"
    clock.now += 239
    assert source.token() == "json-token"
    assert _runs(counter) == 1
    clock.now += 2  # within the last minute of its 300 s
    source.token()
    assert _runs(counter) == 2
    source.invalidate()  # the server refused it: the next login asks again
    source.token()
    assert _runs(counter) == 3


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        ("", "printed no token"),
        ('{"token": "x"}', "JSON without an access_token"),
        ("{not json", "JSON without an access_token"),
    ],
)
def test_unusable_output_is_a_mailbox_error(tmp_path: Path, stdout: str, expected: str) -> None:
    """Output that holds no token fails the mailbox with a clear reason."""
    command, _ = _command(tmp_path, stdout)
    with pytest.raises(MailboxError, match=expected):
        TokenSource(command).token()


def test_failing_command_shows_only_the_first_line_of_stderr(tmp_path: Path) -> None:
    """A failing command's error names its exit code and stderr's first line, nothing after it."""
    stderr = "invalid_client: the secret expired\nclient_secret=s3cr3t-value\nTraceback ...\n"
    command, _ = _command(tmp_path, "", stderr=stderr, code=3)
    with pytest.raises(MailboxError) as caught:
        TokenSource(command).token()
    message = str(caught.value)
    assert "exit code 3" in message
    assert "invalid_client: the secret expired" in message
    assert "s3cr3t-value" not in message and "Traceback" not in message


def test_command_that_cannot_run_is_a_mailbox_error(tmp_path: Path) -> None:
    """A missing program is reported by name."""
    with pytest.raises(MailboxError, match="could not be run"):
        TokenSource([str(tmp_path / "no-such-command")]).token()


# -- metrics and health -----------------------------------------------------------------------


def _sample(metrics: Metrics, name: str, mailbox: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"mailbox": mailbox})


def test_metrics_count_a_pass_and_health_turns_after_the_threshold() -> None:
    """Counters follow the pass; a mailbox is unhealthy only after failing longer than the threshold."""
    metrics = Metrics()
    metrics.record_pass("sales", PassResult(mailbox="sales", fetched=4, published=3, backlog=2), 3, 1)
    assert _sample(metrics, "ewb_messages_published_total", "sales") == 3
    assert _sample(metrics, "ewb_messages_fetched_total", "sales") == 4
    assert _sample(metrics, "ewb_wiki_edits_total", "sales") == 3
    assert _sample(metrics, "ewb_wiki_retries_total", "sales") == 1
    assert _sample(metrics, "ewb_backlog_messages", "sales") == 2
    assert (_sample(metrics, "ewb_last_successful_pass_timestamp_seconds", "sales") or 0) > 0

    failed_at = time.time()
    metrics.record_pass("broken", None, 0, 0)
    metrics.record_pass("broken", None, 0, 0)  # a later failure does not restart the clock
    assert _sample(metrics, "ewb_passes_failed_total", "broken") == 2
    assert metrics.unhealthy(10, now=failed_at + 9) == []
    assert metrics.unhealthy(10, now=failed_at + 12) == ["broken"]
    metrics.record_pass("broken", PassResult(mailbox="broken"), 0, 0)
    assert metrics.unhealthy(10, now=failed_at + 100) == []


def test_metrics_server_answers_metrics_and_healthz() -> None:
    """/metrics is the Prometheus text format; /healthz is 200 ok, or 503 naming the failing mailbox."""
    metrics = Metrics()
    metrics.record_pass("sales", PassResult(mailbox="sales", published=1), 1, 0)
    threshold = [900.0]
    server = serve(metrics, ("127.0.0.1", 0), lambda: threshold[0])
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        text = requests.get(f"{base}/metrics", timeout=5).text
        assert 'ewb_messages_published_total{mailbox="sales"} 1.0' in text
        healthy = requests.get(f"{base}/healthz", timeout=5)
        assert (healthy.status_code, healthy.text) == (200, "ok\n")
        metrics.record_pass("broken", None, 0, 0, _status("broken", last_error="the wiki cannot be reached"))
        metrics.record_pass("sales", PassResult(mailbox="sales"), 0, 0, _status("sales", failed=3, parked=2))
        parked = requests.get(f"{base}/healthz", timeout=5)
        # Parked mail is named but does not make the service unhealthy: the other mail is published.
        assert (parked.status_code, parked.text) == (
            200,
            "parked: sales: 2 mail(s), see `email-wiki-bridge failures list`\n",
        )
        text = requests.get(f"{base}/metrics", timeout=5).text
        assert 'ewb_parked_messages{mailbox="sales"} 2.0' in text
        assert 'ewb_failed_messages{mailbox="sales"} 1.0' in text
        assert 'ewb_pass_failing{mailbox="broken"} 1.0' in text
        assert 'ewb_pass_failing{mailbox="sales"} 0.0' in text
        threshold[0] = -1.0  # any failure is too long now
        failing = requests.get(f"{base}/healthz", timeout=5)
        assert failing.status_code == 503
        assert failing.text.splitlines()[0] == "failing: broken: the wiki cannot be reached"
    finally:
        server.shutdown()
        server.server_close()


def _status(
    mailbox: str, *, failed: int = 0, parked: int = 0, last_error: str | None = None
) -> MailboxStatus:
    return MailboxStatus(
        mailbox=mailbox,
        last_success=None,
        last_error=last_error,
        last_error_at=None,
        backlog=0,
        pages=0,
        published=0,
        quarantined=0,
        failed=failed,
        parked=parked,
    )


# -- the systemd unit ----------------------------------------------------------------------------


def test_systemd_unit_exposure_is_at_most_two() -> None:
    """`systemd-analyze security --offline=true` rates the shipped unit's exposure <= 2.0."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail(
            "systemd-analyze is missing (Debian package 'systemd'); install it, e.g. by "
            "scripts/setup.sh, to check the unit's hardening"
        )
    completed = subprocess.run(
        [analyze, "security", "--offline=true", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = completed.stdout + completed.stderr
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", output)
    assert match is not None, output[-2000:]
    assert float(match.group(1)) <= MAX_EXPOSURE, output[-2000:]
