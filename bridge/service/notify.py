"""systemd's notify protocol (sd_notify) without a library: READY, STATUS, WATCHDOG, RELOADING, STOPPING.

Outside systemd (no NOTIFY_SOCKET) every call does nothing.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger("bridge.service.notify")


class Notifier:
    """Sends state changes to the service manager over the datagram socket it named."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        address = environ.get("NOTIFY_SOCKET", "")
        # A leading "@" names a socket in the abstract namespace (a leading NUL byte).
        self._address = "\0" + address[1:] if address.startswith("@") else address
        watchdog_usec = environ.get("WATCHDOG_USEC", "")
        self.watchdog_seconds = int(watchdog_usec) / 1_000_000 if watchdog_usec.isdigit() else None

    @property
    def enabled(self) -> bool:
        """Whether a service manager listens."""
        return bool(self._address)

    def _send(self, *fields: str) -> None:
        if not self._address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto("\n".join(fields).encode("utf-8"), self._address)
        except OSError as exc:  # a vanished manager must not take the daemon down
            log.warning("notify.failed", error=str(exc))

    def ready(self, status: str) -> None:
        """Tell that start-up is complete."""
        self._send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        """Show a line of progress in `systemctl status`."""
        self._send(f"STATUS={status}")

    def watchdog(self) -> None:
        """Prove liveness to the watchdog (`WatchdogSec=`)."""
        self._send("WATCHDOG=1")

    def reloading(self) -> None:
        """Tell that the configuration is being reloaded."""
        self._send("RELOADING=1", "STATUS=reloading the configuration")

    def stopping(self) -> None:
        """Tell that the daemon is shutting down."""
        self._send("STOPPING=1", "STATUS=stopping after the work in flight")
