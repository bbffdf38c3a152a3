"""Prometheus metrics and a health endpoint, served on loopback by default (no mail content).

`/metrics` is the Prometheus text format; `/healthz` answers 200 while every mailbox's passes
succeed, and 503 naming the mailboxes that have failed for longer than the configured time, with
each one's last error. Mail that failed or is parked does not make the service unhealthy (the
others are published); it is counted in the gauges and named in the health text.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, make_wsgi_app

from bridge.adapters.state.store import Lease, MailboxStatus
from bridge.sync.mailbox_pass import PassResult


class Metrics:
    """The bridge's counters and gauges, per mailbox."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ["mailbox"]

        def counter(name: str, text: str) -> Counter:
            return Counter(f"ewb_{name}", text, labels, registry=self.registry)

        def gauge(name: str, text: str) -> Gauge:
            return Gauge(f"ewb_{name}", text, labels, registry=self.registry)

        self.fetched = counter("messages_fetched", "Mails fetched from IMAP")
        self.published = counter("messages_published", "Mails published on the wiki")
        self.quarantined = counter("messages_quarantined", "Mails held back by the sender policy")
        self.failed = counter("messages_failed", "Mails that could not be published")
        self.replies_sent = counter("replies_sent", "Link replies sent")
        self.replies_suppressed = counter("replies_suppressed", "Link replies suppressed by loop rules")
        self.wiki_edits = counter("wiki_edits", "Edits and uploads made on the wiki")
        self.wiki_retries = counter("wiki_retries", "Wiki requests retried (lag, 5xx, dropped connections)")
        self.passes_failed = counter("passes_failed", "Passes that failed")
        self.last_success = gauge(
            "last_successful_pass_timestamp_seconds", "Unix time of the last successful pass"
        )
        self.backlog = gauge("backlog_messages", "Mails in the folders not yet read")
        self.idle_connected = gauge("idle_connected", "IMAP IDLE connections up (per mailbox)")
        self.failed_now = gauge("failed_messages", "Mails that failed and wait for their next try")
        self.parked_now = gauge("parked_messages", "Mails that failed max_attempts times (failures list)")
        self.pass_failing = gauge("pass_failing", "1 while the mailbox's passes abort, else 0")
        self.lease_held = gauge("lease_held", "1 while this instance holds the mailbox's lease, else 0")
        self.lease_since = gauge(
            "lease_since_timestamp_seconds",
            "Unix time (database clock) this instance took the mailbox's lease",
        )
        self.lease_token = gauge("lease_token", "Fencing token of the mailbox's lease held by this instance")
        self.instance = Gauge(
            "ewb_instance_info", "This instance's id in the leases", ["instance"], registry=self.registry
        )
        self.live_instances = Gauge(
            "ewb_live_instances",
            "Instances whose heartbeat was valid at the last lease tick",
            registry=self.registry,
        )
        self._failing_since: dict[str, float] = {}
        self._last_error: dict[str, str] = {}
        self._parked: dict[str, int] = {}
        self._leased: set[str] = set()
        self._lock = threading.Lock()

    def record_pass(
        self,
        mailbox: str,
        result: PassResult | None,
        wiki_edits: int,
        wiki_retries: int,
        status: MailboxStatus | None = None,
    ) -> None:
        """Count what one pass did (None: the pass failed) and show the mailbox's state after it."""
        self.wiki_edits.labels(mailbox).inc(wiki_edits)
        self.wiki_retries.labels(mailbox).inc(wiki_retries)
        self.pass_failing.labels(mailbox).set(0 if result is not None else 1)
        with self._lock:
            if status is not None:
                self.failed_now.labels(mailbox).set(status.failed - status.parked)
                self.parked_now.labels(mailbox).set(status.parked)
                self._parked[mailbox] = status.parked
                if status.last_error:
                    self._last_error[mailbox] = status.last_error
            if result is None:
                self.passes_failed.labels(mailbox).inc()
                self._failing_since.setdefault(mailbox, time.time())
                return
            self._failing_since.pop(mailbox, None)
        self.fetched.labels(mailbox).inc(result.fetched)
        self.published.labels(mailbox).inc(result.published)
        self.quarantined.labels(mailbox).inc(result.quarantined)
        self.failed.labels(mailbox).inc(result.failed)
        self.replies_sent.labels(mailbox).inc(result.replies_sent)
        self.replies_suppressed.labels(mailbox).inc(result.replies_suppressed)
        self.backlog.labels(mailbox).set(result.backlog)
        self.last_success.labels(mailbox).set(time.time())

    def record_leases(self, instance: str, held: Mapping[str, Lease], live: int) -> None:
        """Show which mailboxes this instance holds, since when and under which token."""
        self.instance.labels(instance).set(1)
        self.live_instances.set(live)
        with self._lock:
            for mailbox in self._leased - held.keys():
                self.lease_held.labels(mailbox).set(0)
                self.lease_since.remove(mailbox)
                self.lease_token.remove(mailbox)
            self._leased = set(held)
        for mailbox, lease in held.items():
            self.lease_held.labels(mailbox).set(1)
            self.lease_since.labels(mailbox).set(lease.since)
            self.lease_token.labels(mailbox).set(lease.token)

    def unhealthy(self, failure_seconds: float, now: float | None = None) -> list[str]:
        """Return the mailboxes whose passes have failed for longer than `failure_seconds`."""
        moment = time.time() if now is None else now
        with self._lock:
            return sorted(m for m, since in self._failing_since.items() if moment - since > failure_seconds)

    def health_text(self, failure_seconds: float, now: float | None = None) -> tuple[bool, str]:
        """Return whether the service is healthy, and a text naming failing mailboxes and parked mail."""
        failing = self.unhealthy(failure_seconds, now)
        with self._lock:
            lines = [f"failing: {name}: {self._last_error.get(name, 'see the log')}" for name in failing]
            lines += [
                f"parked: {name}: {count} mail(s), see `email-wiki-bridge failures list`"
                for name, count in sorted(self._parked.items())
                if count
            ]
        return not failing, "\n".join(lines or ["ok"]) + "\n"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would flood the log; they are not logged."""


def serve(metrics: Metrics, address: tuple[str, int], failure_seconds: Callable[[], float]) -> WSGIServer:
    """Serve /metrics and /healthz on `address` in a background thread; return the server."""
    prometheus = make_wsgi_app(metrics.registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            healthy, body = metrics.health_text(failure_seconds())
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [body.encode()]
        result: Iterable[bytes] = prometheus(environ, start_response)
        return result

    server = make_server(address[0], address[1], app, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
