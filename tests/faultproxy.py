"""A seeded TCP fault proxy on loopback, in front of a real server (MediaWiki, Dovecot, SMTP).

This is fault injection that the real servers cannot produce on their own: a network that
loses the answer after the server did the work, or that cuts a connection half-way. Everything
else is the real server's doing.

Fault modes, decided once per accepted connection from one seeded ``random.Random``:

- **lose the answer**: the request is forwarded and the server acts on it; when the server's
  answer to the first request that ends with ``Faults.request_end`` begins, the proxy resets the
  client's connection (RST) instead of forwarding it, then closes the server's side once the
  server has finished (half-close and drain). The client sees a reset after the server did
  the work. ``request_end`` ``b""`` means the first request of the connection (HTTP);
  ``b"\\r\\n.\\r\\n"`` is the end of an SMTP message, so the answer to DATA is lost.
- **cut**: both sides are reset after a uniformly drawn number of bytes (both directions
  counted) below ``Faults.cut_within``: a request may be cut before the server saw all of it,
  an answer in the middle. As on a real broken path, the last bytes before the reset may be
  lost with it.

HTTP keep-alive: the proxy decides per connection, not per request. That suits MediaWiki under
``php -S``, which answers every request with ``Connection: close``, so each connection carries
one request (and a client's keep-alive session simply opens a new connection each time).

The proxy knows no protocol: a *request* is whatever the client sends until the server speaks,
the *answer* begins with the server's next bytes (a greeting before any request is neither).
Tripwires (:meth:`FaultProxy.trip`) call an action at the n-th request or answer passing through
(counted over all connections), before it is forwarded, then reset the connection like a lost
answer. Tests use them to SIGKILL the client at a seeded moment, e.g. after the wiki saved an
edit but before the client heard about it.

Fault rates can be switched at run time (:meth:`FaultProxy.set_faults`); the counters in
:attr:`FaultProxy.stats` tell a test that its faults really happened. With ``record=True`` the
proxy also keeps what each client sent (:attr:`FaultProxy.sent`, one entry per connection), so
a test can count the commands or requests a client made; :meth:`FaultProxy.reset_all` drops
every open connection at once, as a server restart or a NAT timeout does to idle sessions. A
``tap`` sees every chunk as it is forwarded (connection number, direction, bytes; empty bytes
when the server closes): the benchmarks count IMAP commands, wiki API requests and the wiki's
time with it.
"""

from __future__ import annotations

import contextlib
import random
import select
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from types import TracebackType
from typing import Self

LOOPBACK = "127.0.0.1"
_CHUNK = 65536
_IDLE_TIMEOUT = 120.0
"""Seconds a connection may stay silent before the proxy gives up on it (no test waits on this)."""


@dataclass(frozen=True, slots=True)
class Faults:
    """Fault rates for new connections (each a share between 0.0 and 1.0)."""

    lose: float = 0.0
    cut: float = 0.0
    cut_within: int = 65536
    request_end: bytes = b""

    def __post_init__(self) -> None:
        if not (0.0 <= self.lose <= 1.0 and 0.0 <= self.cut <= 1.0 and self.lose + self.cut <= 1.0):
            msg = f"fault rates must be shares between 0 and 1 that add up to at most 1: {self}"
            raise ValueError(msg)
        if self.cut_within < 1:
            msg = "cut_within must be at least 1 byte"
            raise ValueError(msg)


class Moment(Enum):
    """Where a tripwire fires: when a request arrives (before the server sees it), or when the
    server's answer arrives (after the server did the work, before the client hears of it)."""

    REQUEST = "request"
    ANSWER = "answer"


@dataclass(slots=True)
class ProxyStats:
    """What the proxy did so far."""

    connections: int = 0
    requests: int = 0
    answers: int = 0
    lost: int = 0
    cut: int = 0
    tripped: int = 0


@dataclass(slots=True)
class _Tripwire:
    moment: Moment
    remaining: int
    action: Callable[[], None]


@dataclass(slots=True)
class _Plan:
    """The fault chosen for one connection."""

    lose: bool = False
    cut_at: int | None = None
    request_end: bytes = b""


Tap = Callable[[int, Moment, bytes], None]
"""Sees each forwarded chunk: the connection's number (from 1), REQUEST for client bytes or
ANSWER for server bytes, and the bytes (empty: the server closed the connection). Called on the
connection's thread, before forwarding."""


@dataclass(slots=True)
class _Flow:
    """The state of one proxied connection."""

    number: int
    client: socket.socket
    server: socket.socket
    plan: _Plan
    forwarded: int = 0
    tail: bytes = b""
    awaiting_answer: bool = False
    sent: bytearray = field(default_factory=bytearray)


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN, as a broken network path looks to the other side."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


def _drain(sock: socket.socket) -> None:
    """Tell the server the client is gone (half-close) and read until it closes: it finishes its
    work as it would after a lost answer, instead of being interrupted by the proxy."""
    try:
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(_CHUNK):
            pass
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sock.close()


class FaultProxy:
    """A threaded TCP proxy from ``host:port`` to ``target``; see the module docstring."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        seed: int,
        faults: Faults | None = None,
        record: bool = False,
        tap: Tap | None = None,
    ) -> None:
        self.target = (target_host, target_port)
        self._tap = tap
        self._rng = random.Random(seed)  # noqa: S311 - reproducible fault schedule, not secrets
        self._lock = threading.Lock()
        self._faults = faults or Faults()
        self._tripwire: _Tripwire | None = None
        self.stats = ProxyStats()
        self._record = record
        self.sent: list[bytearray] = []
        self._open: list[_Flow] = []
        self._listener = socket.create_server((LOOPBACK, 0))
        self.host = LOOPBACK
        self.port: int = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"faultproxy-{self.port}", daemon=True)
        self._thread.start()

    # -- control -------------------------------------------------------------------------------

    def set_faults(self, faults: Faults) -> None:
        """Use ``faults`` for connections accepted from now on."""
        with self._lock:
            self._faults = faults

    def trip(self, after: int, moment: Moment, action: Callable[[], None]) -> None:
        """Call ``action`` at the ``after``-th request or answer from now (1 = the next one), before
        forwarding it, and reset that connection. One shot; replaces an unfired tripwire."""
        if after < 1:
            msg = "a tripwire fires at the first event at the earliest (after >= 1)"
            raise ValueError(msg)
        with self._lock:
            self._tripwire = _Tripwire(moment, after, action)

    def disarm(self) -> bool:
        """Remove an unfired tripwire; return whether there was one."""
        with self._lock:
            armed = self._tripwire is not None
            self._tripwire = None
            return armed

    def clear(self) -> None:
        """Forget what clients sent so far (the counters in `stats` stay); open connections go on."""
        with self._lock:
            for flow in self._open:
                flow.sent.clear()
            self.sent = [flow.sent for flow in self._open] if self._record else []

    def reset_all(self) -> int:
        """Reset every open connection (both sides); return how many there were."""
        with self._lock:
            flows, self._open = self._open, []
        for flow in flows:
            _reset(flow.client)
            _reset(flow.server)
        return len(flows)

    def close(self) -> None:
        """Stop accepting; connections in flight end on their own."""
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() does not
        with contextlib.suppress(OSError):
            self._listener.close()
        self._thread.join(5)

    def __enter__(self) -> Self:
        """Use as a context manager that closes the proxy on exit."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the proxy."""
        self.close()

    # -- proxying ------------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _plan(self) -> tuple[int, _Plan]:
        """Number the connection and draw its fault: one draw decides the mode, a second where a
        cut falls."""
        with self._lock:
            faults = self._faults
            self.stats.connections += 1
            number = self.stats.connections
            draw = self._rng.random()
            cut_at = self._rng.randrange(faults.cut_within)
        if draw < faults.lose:
            return number, _Plan(lose=True, request_end=faults.request_end)
        if draw < faults.lose + faults.cut:
            return number, _Plan(cut_at=cut_at, request_end=faults.request_end)
        return number, _Plan(request_end=faults.request_end)

    def _serve(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.target, timeout=_IDLE_TIMEOUT)
        except OSError:
            _reset(client)  # the real server is down: the client sees what it would see
            return
        number, plan = self._plan()
        flow = _Flow(number=number, client=client, server=server, plan=plan)
        with self._lock:
            self._open.append(flow)
            if self._record:
                self.sent.append(flow.sent)
        try:
            self._pump(flow)
        except OSError:
            pass  # either side went away; both are closed below
        finally:
            with self._lock:
                if flow in self._open:
                    self._open.remove(flow)
            # A plain close: data still in the send buffer reaches the client (an RST would drop
            # it). Faults reset the sockets before this, which makes these closes no-ops.
            for sock in (flow.client, flow.server):
                with contextlib.suppress(OSError):
                    sock.close()

    def _pump(self, flow: _Flow) -> None:
        """Forward both ways until either side closes or a fault ends the connection."""
        while True:
            readable, _, _ = select.select([flow.client, flow.server], [], [], _IDLE_TIMEOUT)
            if not readable:
                return
            if flow.client in readable:
                data = flow.client.recv(_CHUNK)
                if not data:
                    flow.server.shutdown(socket.SHUT_WR)
                    self._finish(flow)
                    return
                if not self._forward_request(flow, data):
                    return
            if flow.server in readable:
                data = flow.server.recv(_CHUNK)
                if not data:
                    self._closed_by_server(flow)
                    return
                if not self._forward_answer(flow, data):
                    return

    def _finish(self, flow: _Flow) -> None:
        """The client closed its side: pass the rest of the server's answer on, then stop."""
        while data := flow.server.recv(_CHUNK):
            if self._tap is not None:
                self._tap(flow.number, Moment.ANSWER, data)
            flow.client.sendall(data)
        self._closed_by_server(flow)

    def _closed_by_server(self, flow: _Flow) -> None:
        """Tell the tap the server closed the connection (clients reading to EOF wait for this)."""
        if self._tap is not None:
            self._tap(flow.number, Moment.ANSWER, b"")

    def _forward_request(self, flow: _Flow, data: bytes) -> bool:
        """Forward client bytes; return False when the connection ends here."""
        if not flow.awaiting_answer:
            flow.awaiting_answer = True
            with self._lock:
                self.stats.requests += 1
            if self._fire(Moment.REQUEST):
                _reset(flow.client)
                flow.server.close()
                return False
        end = flow.plan.request_end
        flow.tail = (flow.tail + data)[-max(len(end), 1) :]
        flow.sent += data
        if self._tap is not None:
            self._tap(flow.number, Moment.REQUEST, data)
        return self._send_or_cut(flow, flow.server, data)

    def _forward_answer(self, flow: _Flow, data: bytes) -> bool:
        """Forward server bytes; return False when the connection ends here."""
        if flow.awaiting_answer:
            flow.awaiting_answer = False
            with self._lock:
                self.stats.answers += 1
            tripped = self._fire(Moment.ANSWER)
            lost = not tripped and flow.plan.lose and flow.tail.endswith(flow.plan.request_end)
            if lost:
                with self._lock:
                    self.stats.lost += 1
            if tripped or lost:
                _reset(flow.client)
                _drain(flow.server)
                return False
        if self._tap is not None:
            self._tap(flow.number, Moment.ANSWER, data)
        return self._send_or_cut(flow, flow.client, data)

    def _send_or_cut(self, flow: _Flow, sink: socket.socket, data: bytes) -> bool:
        cut_at = flow.plan.cut_at
        if cut_at is not None and flow.forwarded + len(data) > cut_at:
            sink.sendall(data[: cut_at - flow.forwarded])
            with self._lock:
                self.stats.cut += 1
            _reset(flow.server)
            _reset(flow.client)
            return False
        sink.sendall(data)
        flow.forwarded += len(data)
        return True

    def _fire(self, moment: Moment) -> bool:
        """Count a request or answer against the tripwire; run its action when it is due."""
        with self._lock:
            wire = self._tripwire
            if wire is None or wire.moment is not moment:
                return False
            wire.remaining -= 1
            if wire.remaining > 0:
                return False
            self._tripwire = None
            self.stats.tripped += 1
        wire.action()
        return True
