"""The daemon as a service, as a real subprocess against real servers: IMAP IDLE (and a Dovecot
restart), systemd notifications, SIGTERM in the middle of a batch, SIGHUP reloads, Prometheus
metrics, /healthz, and `status --json`."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.integration.service_support import (
    NotifyListener,
    ServiceSpace,
    marker_counts,
    message_statuses,
    page_texts,
    wait_until,
)
from tests.integration.support import make_mail, unique
from tests.servers import DovecotServer, MediaWikiServer

LATENCY_LIMIT = 10.0


@pytest.fixture
def service(dovecot: DovecotServer, mediawiki: MediaWikiServer, tmp_path: Path) -> Iterator[ServiceSpace]:
    """A fresh config, state file and metrics port; bridge processes are killed at the end."""
    space = ServiceSpace(dovecot=dovecot, mediawiki=mediawiki, directory=tmp_path)
    yield space
    space.close()


def _names(stem: str) -> tuple[str, str]:
    """A fresh IMAP folder and page prefix."""
    name = unique(stem)
    return f"{name}-in", f"{name}/Mail"


def _on_wiki(service: ServiceSpace, prefix: str, message_id: str) -> bool:
    """Whether the message's marker is on a page under `prefix`."""
    return marker_counts(page_texts(service.mediawiki, prefix).values())[message_id] > 0


def test_idle_publishes_within_seconds_and_reconnects_after_a_dovecot_restart(
    service: ServiceSpace, record_property: Callable[[str, object], None]
) -> None:
    """With IDLE and an hourly poll, new mail is on the wiki in seconds, also after Dovecot restarts."""
    folder, prefix = _names("Idle")
    service.append(folder, make_mail("idle-0@example.de", "Idle warm-up"))
    service.write_config([service.mailbox("sales", folder, prefix, idle=True, poll_interval=3600)])
    daemon = service.start("run")
    daemon.wait_for_event("idle.connected", mailbox="sales", folder=folder)
    wait_until(lambda: _on_wiki(service, prefix, "idle-0@example.de"), 30, "the start-up pass")

    started = time.monotonic()
    service.append(folder, make_mail("idle-1@example.de", "Idle first"))
    wait_until(
        lambda: _on_wiki(service, prefix, "idle-1@example.de"), 30, "the IDLE-triggered pass", interval=0.05
    )
    latency = time.monotonic() - started
    record_property("idle_latency_seconds", round(latency, 2))
    print(f"IDLE latency: {latency:.2f} s")
    assert latency < LATENCY_LIMIT

    service.dovecot.restart()
    assert service.dovecot.running
    daemon.wait_for_event("idle.disconnected", mailbox="sales", folder=folder, timeout=15)
    daemon.wait_for_event("idle.connected", count=2, mailbox="sales", folder=folder, timeout=30)
    started = time.monotonic()
    service.append(folder, make_mail("idle-2@example.de", "Idle after restart"))
    wait_until(
        lambda: _on_wiki(service, prefix, "idle-2@example.de"),
        30,
        "the pass after the restart",
        interval=0.05,
    )
    latency_after = time.monotonic() - started
    record_property("idle_latency_after_restart_seconds", round(latency_after, 2))
    print(f"IDLE latency after the Dovecot restart: {latency_after:.2f} s")
    assert latency_after < LATENCY_LIMIT

    assert len(daemon.events("idle.connected", mailbox="sales", folder=folder)) == 2
    # The watcher retries with jittered backoff while Dovecot is down, so a retry that comes
    # before Dovecot is back logs a further disconnect.
    disconnects = daemon.events("idle.disconnected", mailbox="sales", folder=folder)
    assert 1 <= len(disconnects) <= 3, disconnects
    counts = marker_counts(page_texts(service.mediawiki, prefix).values())
    assert counts == {"idle-0@example.de": 1, "idle-1@example.de": 1, "idle-2@example.de": 1}
    code, seconds = daemon.terminate()
    assert (code, seconds < 10) == (0, True), daemon.log_tail()


def test_systemd_notify_ready_status_watchdog_reloading_stopping(service: ServiceSpace) -> None:
    """READY at start, STATUS per pass, WATCHDOG each second, RELOADING on SIGHUP, STOPPING on SIGTERM."""
    folder, prefix = _names("Notify")
    service.append(folder, make_mail("notify-1@example.de", "Notify me"))
    service.write_config([service.mailbox("sales", folder, prefix, poll_interval=3600)])
    listener = NotifyListener()
    try:
        daemon = service.start("run", env=listener.environ(watchdog_usec=2_000_000))
        ready = listener.wait_for("READY=1")
        assert daemon.events("daemon.started"), daemon.log_tail()
        listener.wait_for("STATUS=sales: 1 published")
        assert any(line.startswith("STATUS=running") for _, line in listener.fields("STATUS="))

        # WatchdogSec=2 s: the daemon pings every second.
        time.sleep(3.0)
        pings = listener.fields("WATCHDOG=1", since=ready)
        assert len(pings) >= 2, listener.received

        hup = time.monotonic()
        daemon.send(signal.SIGHUP)
        listener.wait_for("RELOADING=1", since=hup)
        listener.wait_for("READY=1", since=hup)
        daemon.wait_for_event("daemon.reloaded")

        term = time.monotonic()
        code, seconds = daemon.terminate()
        listener.wait_for("STOPPING=1", since=term, timeout=1)
        assert code == 0, daemon.log_tail()
        assert seconds < 10
        assert message_statuses(service.state_path) == {"done": 1}
    finally:
        listener.close()


def test_sigterm_during_a_batch_stops_in_seconds_and_once_publishes_the_rest_exactly_once(
    service: ServiceSpace,
) -> None:
    """SIGTERM while 30 threads are being published stops within 10 s; `once` then does the rest."""
    folder, prefix = _names("Term")
    ids = [f"term-{n}@example.de" for n in range(30)]
    for n, message_id in enumerate(ids):
        service.append(folder, make_mail(message_id, f"Batch thread {n}"))
    # 120 edits a minute: the 30 edits of the batch take 15 s, so the signal surely comes mid-batch.
    service.write_config(
        [service.mailbox("sales", folder, prefix, poll_interval=3600)], wiki={"edits_per_minute": 120}
    )
    daemon = service.start("run")
    daemon.wait_for_event("message.published", count=3, timeout=60)
    code, seconds = daemon.terminate()
    assert code == 0, daemon.log_tail()
    assert seconds < 10, daemon.log_tail()
    assert daemon.events("daemon.stopped")
    published = len(daemon.events("message.published"))
    assert 3 <= published < len(ids)
    statuses = message_statuses(service.state_path)
    assert statuses == {"done": published}, statuses

    completed = service.cli("once")
    assert completed.returncode == 0, completed.stderr[-3000:]
    counts = marker_counts(page_texts(service.mediawiki, prefix).values())
    assert counts == dict.fromkeys(ids, 1)
    assert message_statuses(service.state_path) == {"done": len(ids)}


def test_sighup_adds_a_mapping_and_refuses_an_invalid_config(service: ServiceSpace) -> None:
    """A reload adds a mapping without a restart; an invalid config is refused and the old one kept."""
    folder_a, prefix_a = _names("HupA")
    folder_b, prefix_b = _names("HupB")
    service.append(folder_a, make_mail("hup-a1@example.de", "Reload A"))
    service.append(folder_b, make_mail("hup-b1@example.de", "Reload B"), user="team-support")
    sales = service.mailbox("sales", folder_a, prefix_a, poll_interval=3600)
    support = service.mailbox("support", folder_b, prefix_b, user="team-support", poll_interval=5)
    service.write_config([sales])
    daemon = service.start("run")
    daemon.wait_for_event("pass.finished", mailbox="sales")
    assert _on_wiki(service, prefix_a, "hup-a1@example.de")
    assert page_texts(service.mediawiki, prefix_b) == {}

    service.write_config([sales, support])
    daemon.send(signal.SIGHUP)
    reloaded = daemon.wait_for_event("daemon.reloaded")
    assert reloaded[0]["mailboxes"] == ["sales", "support"]
    wait_until(lambda: _on_wiki(service, prefix_b, "hup-b1@example.de"), 20, "the new mapping's mail")

    broken = {**sales, "pagee_prefix": prefix_a}
    service.write_config([broken, support])
    daemon.send(signal.SIGHUP)
    failed = daemon.wait_for_event("daemon.reload_failed")
    assert any("mailboxes[0].pagee_prefix" in problem for problem in failed[0]["problems"]), failed
    assert daemon.running
    # Still running with the previous configuration: the support mapping keeps being polled.
    service.append(folder_b, make_mail("hup-b2@example.de", "Reload B again"), user="team-support")
    wait_until(lambda: _on_wiki(service, prefix_b, "hup-b2@example.de"), 20, "mail after the refused reload")
    assert len(daemon.events("daemon.reloaded")) == 1
    assert service.get("/healthz").status_code == 200
    code, seconds = daemon.terminate()
    assert (code, seconds < 10) == (0, True), daemon.log_tail()


def test_metrics_healthz_and_status_json(service: ServiceSpace) -> None:
    """Metrics count what was published; /healthz fails after a mailbox failed for the threshold."""
    folder, prefix = _names("Metrics")
    ids = [f"metrics-{n}@example.de" for n in range(3)]
    for n, message_id in enumerate(ids):
        service.append(folder, make_mail(message_id, f"Metrics thread {n}"))
    broken_prefix = _names("Broken")[1]
    service.write_config(
        [
            service.mailbox("sales", folder, prefix, idle=True, poll_interval=3600),
            service.mailbox(
                "broken",
                "INBOX",
                broken_prefix,
                user="team-support",
                password="wrong-password",
                poll_interval=5,
            ),
        ],
        service={"health_failure_seconds": 10},
    )
    daemon = service.start("run")
    daemon.wait_for_event("pass.finished", mailbox="sales")
    first_failure = daemon.wait_for_event("pass.failed", mailbox="broken")[0]["_t"]
    wait_until(service.metrics_up, 10, "the metrics endpoint")
    health = service.get("/healthz")
    assert (health.status_code, health.text.strip()) == (200, "ok")
    assert time.monotonic() - first_failure < 10  # the "ok" above was inside the threshold

    wait_until(lambda: service.metric("ewb_idle_connected", "sales") == 1, 10, "the IDLE gauge")
    assert service.metric("ewb_messages_published_total", "sales") == len(ids)
    assert (service.metric("ewb_wiki_edits_total", "sales") or 0) >= len(ids)
    last = service.metric("ewb_last_successful_pass_timestamp_seconds", "sales")
    assert last is not None and abs(last - time.time()) < 60
    assert service.metric("ewb_backlog_messages", "sales") == 0
    assert (service.metric("ewb_passes_failed_total", "broken") or 0) >= 1
    assert service.metric("ewb_last_successful_pass_timestamp_seconds", "broken") is None
    assert "wrong-password" not in service.get("/metrics").text

    def failing() -> bool:
        response = service.get("/healthz")
        return response.status_code == 503

    wait_until(failing, 25, "/healthz to report the failing mailbox", interval=0.25)
    assert time.monotonic() - first_failure > 10
    unhealthy = service.get("/healthz")
    assert unhealthy.status_code == 503
    assert unhealthy.text.startswith("failing: broken: ")
    assert "refused the login" in unhealthy.text
    assert "wrong-password" not in unhealthy.text
    assert service.metric("ewb_pass_failing", "broken") == 1
    assert service.metric("ewb_pass_failing", "sales") == 0
    assert service.metric("ewb_parked_messages", "sales") == 0

    completed = service.cli("status", "--json")
    assert completed.returncode == 0, completed.stderr
    rows = {row["mailbox"]: row for row in json.loads(completed.stdout)}
    assert set(rows) == {"sales", "broken"}
    sales = rows["sales"]
    assert sales["last_success"] is not None
    assert (sales["published"], sales["pages"], sales["quarantined"], sales["backlog"]) == (3, 3, 0, 0)
    assert sales["last_error"] is None
    broken = rows["broken"]
    assert broken["last_success"] is None
    assert broken["published"] == broken["pages"] == broken["quarantined"] == 0
    assert "refused the login" in broken["last_error"] and "team-support" in broken["last_error"]
    assert "wrong-password" not in completed.stdout

    code, seconds = daemon.terminate()
    assert (code, seconds < 10) == (0, True), daemon.log_tail()
    with pytest.raises(requests.ConnectionError):
        service.get("/healthz")
