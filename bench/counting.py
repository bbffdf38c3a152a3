"""Counting what a client says to IMAP and to the wiki, from the bytes a loopback proxy forwards.

`ImapTally` and `HttpTally` are taps for `tests.faultproxy.FaultProxy` (no faults): they read
the client's side of each connection as a stream and count IMAP commands by name, HTTP requests
by API action, and the bytes each way. Nothing in the bridge is changed or asked, so the counts
hold for any way the bridge may come to work (threads, pipelining, connection reuse).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from tests.faultproxy import Moment

_LITERAL = re.compile(rb"\{(\d+)\+?\}$")
_EXISTS = re.compile(rb"^\* \d+ EXISTS$", re.IGNORECASE)
_MULTIPART_ACTION = re.compile(rb'name="action"\r\n(?:[^\r\n]+\r\n)*\r\n([A-Za-z]+)')


@dataclass
class _Lines:
    """An IMAP byte stream read as lines; literals (``{n}`` at a line's end) are skipped whole."""

    pending: bytes = b""
    literal_left: int = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Take more bytes; return the lines completed by them (without CRLF)."""
        self.pending += data
        lines: list[bytes] = []
        while True:
            if self.literal_left:
                skipped = min(self.literal_left, len(self.pending))
                self.literal_left -= skipped
                self.pending = self.pending[skipped:]
                if self.literal_left:
                    return lines
            line, found, rest = self.pending.partition(b"\r\n")
            if not found:
                return lines
            self.pending = rest
            lines.append(line)
            literal = _LITERAL.search(line)
            if literal is not None:
                self.literal_left = int(literal.group(1))


@dataclass
class _ImapStream:
    """One IMAP connection: both directions as lines, and the commands awaiting their answer."""

    sent: _Lines = field(default_factory=_Lines)
    received: _Lines = field(default_factory=_Lines)
    waiting: dict[bytes, float] = field(default_factory=dict)


@dataclass
class ImapTally:
    """Counts the tagged IMAP commands clients send (``UID FETCH`` counts as its own name), and
    the seconds from each command to its tagged answer (IDLE, which waits on purpose, aside).

    `exists_at` keeps when each untagged ``* n EXISTS`` reached the proxy: the moment the server
    told its client of new mail (for IDLE, the server's own share of the latency).
    """

    commands: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    bytes_from_server: int = 0
    bytes_to_server: int = 0
    seconds: float = 0.0
    exists_at: list[float] = field(default_factory=list)
    _streams: defaultdict[int, _ImapStream] = field(default_factory=lambda: defaultdict(_ImapStream))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, connection: int, moment: Moment, data: bytes) -> None:
        """The proxy's tap: count what passes."""
        now = time.monotonic()
        with self._lock:
            if connection not in self._streams:
                self.connections += 1
            stream = self._streams[connection]
            if moment is Moment.ANSWER:
                self.bytes_from_server += len(data)
                for line in stream.received.feed(data):
                    if _EXISTS.match(line):
                        self.exists_at.append(now)
                    started = stream.waiting.pop(line.split(b" ", 1)[0], None)
                    if started is not None:
                        self.seconds += now - started
                return
            self.bytes_to_server += len(data)
            for line in stream.sent.feed(data):
                name = command_name(line)
                if name is not None:
                    self.commands[name] += 1
                    if name != "IDLE":
                        stream.waiting[line.split(b" ", 1)[0]] = now

    def snapshot(self) -> Counter[str]:
        """The commands counted so far (a copy)."""
        with self._lock:
            return Counter(self.commands)


def command_name(line: bytes) -> str | None:
    """The command of a tagged IMAP command line (``UID FETCH``, ``SELECT``), else None.

    Continuation lines such as ``DONE`` after IDLE or SASL answers carry no tag and command.
    """
    words = line.split(b" ", 3)
    if len(words) < 2 or not words[0] or not words[1].isalpha():
        return None
    name = words[1].upper().decode("ascii")
    if name == "UID" and len(words) > 2 and words[2].isalpha():
        return f"UID {words[2].upper().decode('ascii')}"
    return name


@dataclass
class _HttpStream:
    """One HTTP connection: client bytes not yet read as a whole request, and the request whose
    answer is coming (its action, when its first byte was sent, when its last answer byte came)."""

    pending: bytes = b""
    began: float = 0.0
    current: tuple[str, float] | None = None
    answered: float = 0.0


@dataclass
class HttpTally:
    """Counts HTTP requests to the wiki by their Action API ``action`` (query, edit, upload …), and
    the seconds the wiki spent on them, per action.

    The wiki serves one request at a time (``php -S``): a request sent while another is answered
    waits, so its time runs from its first byte, or from the answer before it where it waited,
    to its answer's last byte. Requests one after the other simply count from request to answer.
    """

    actions: Counter[str] = field(default_factory=Counter)
    bytes_from_server: int = 0
    bytes_to_server: int = 0
    _answered: list[tuple[float, float, str]] = field(default_factory=list)
    _streams: defaultdict[int, _HttpStream] = field(default_factory=lambda: defaultdict(_HttpStream))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, connection: int, moment: Moment, data: bytes) -> None:
        """The proxy's tap: count what passes."""
        now = time.monotonic()
        with self._lock:
            stream = self._streams[connection]
            if moment is Moment.ANSWER:
                self.bytes_from_server += len(data)
                stream.answered = now
                return
            self.bytes_to_server += len(data)
            if not stream.pending:
                stream.began = now
            stream.pending += data
            while (request := take_request(stream.pending)) is not None:
                action, stream.pending = request
                self.actions[action] += 1
                self._settle(stream)
                stream.current = (action, stream.began)
                stream.began = now

    def _settle(self, stream: _HttpStream) -> None:
        """Book the answered request of `stream` (if any) under its action."""
        if stream.current is not None:
            action, started = stream.current
            self._answered.append((stream.answered, started, action))
            stream.current = None

    def snapshot(self) -> Counter[str]:
        """The requests counted so far, by action (a copy)."""
        with self._lock:
            return Counter(self.actions)

    @property
    def requests(self) -> int:
        """HTTP requests sent."""
        return sum(self.actions.values())

    def seconds(self) -> dict[str, float]:
        """Seconds the wiki spent per action (call when the client is done)."""
        with self._lock:
            for stream in self._streams.values():
                self._settle(stream)
            seconds: defaultdict[str, float] = defaultdict(float)
            previous = float("-inf")
            for answered, started, action in sorted(self._answered):
                seconds[action] += max(0.0, answered - max(started, previous))
                previous = answered
            return dict(seconds)


def take_request(buffer: bytes) -> tuple[str, bytes] | None:
    """Read one whole HTTP request off `buffer`: (its API action, the bytes after it), or None
    while it is incomplete. A request without an ``action`` parameter counts as ``-``."""
    head, found, rest = buffer.partition(b"\r\n\r\n")
    if not found:
        return None
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body, end, after = rest.partition(b"\r\n0\r\n\r\n")
        if not end:
            return None
    else:
        length = int(headers.get(b"content-length", b"0") or b"0")
        if len(rest) < length:
            return None
        body, after = rest[:length], rest[length:]
    target = lines[0].split(b" ")[1].decode("latin-1") if len(lines[0].split(b" ")) > 1 else ""
    return _action(target, headers.get(b"content-type", b""), body), after


def _action(target: str, content_type: bytes, body: bytes) -> str:
    """The ``action`` of an API request, from its query string or its (form or multipart) body."""
    found = parse_qs(urlsplit(target).query).get("action")
    if found:
        return found[0]
    if content_type.startswith(b"application/x-www-form-urlencoded"):
        found = parse_qs(body.decode("latin-1")).get("action")
        if found:
            return found[0]
    elif content_type.startswith(b"multipart/"):
        match = _MULTIPART_ACTION.search(body)
        if match:
            return match.group(1).decode("ascii")
    return "-"
