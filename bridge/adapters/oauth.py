"""Access tokens for XOAUTH2 (Microsoft 365, Google Workspace), from an admin-supplied command.

The command prints either the bare token or JSON with `access_token` and `expires_in`
(seconds), as `oauth2l`, `az account get-access-token`-style wrappers and small scripts do. The
token is cached and the command run again shortly before it expires (or after a refused login).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Sequence

from bridge.errors import MailboxError
from bridge.service.config import Secret

DEFAULT_LIFETIME = 3000.0  # seconds, when the command does not say
_MARGIN = 60.0


class TokenSource:
    """Runs `command` for a token and keeps it until shortly before it expires."""

    def __init__(self, command: Sequence[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.command = tuple(command)
        self._clock = clock
        self._token: Secret | None = None
        self._expires = 0.0
        self._lock = threading.Lock()
        self.runs = 0

    def token(self) -> str:
        """Return a valid access token, running the command when the cached one is (nearly) expired."""
        with self._lock:
            if self._token is None or self._clock() >= self._expires - _MARGIN:
                self._token, lifetime = self._run()
                self._expires = self._clock() + lifetime
            return self._token.value

    def invalidate(self) -> None:
        """Forget the cached token (the server refused it)."""
        with self._lock:
            self._token = None

    def _run(self) -> tuple[Secret, float]:
        self.runs += 1
        try:
            completed = subprocess.run(self.command, capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MailboxError(f"the token_command {self.command[0]!r} could not be run: {exc}") from exc
        if completed.returncode != 0:
            # stderr may hold secrets of the token endpoint; only its first line is shown.
            first_line = (completed.stderr.strip().splitlines() or ["no message"])[0][:200]
            raise MailboxError(
                f"the token_command failed with exit code {completed.returncode}: {first_line}"
            )
        output = completed.stdout.strip()
        if output.startswith("{"):
            try:
                data = json.loads(output)
                return Secret(str(data["access_token"])), float(data.get("expires_in", DEFAULT_LIFETIME))
            except (ValueError, KeyError, TypeError) as exc:
                raise MailboxError("the token_command printed JSON without an access_token") from exc
        if not output:
            raise MailboxError("the token_command printed no token")
        return Secret(output), DEFAULT_LIFETIME


_SOURCES: dict[tuple[str, ...], TokenSource] = {}
_SOURCES_LOCK = threading.Lock()


def token_source(command: Sequence[str]) -> TokenSource:
    """Return the process-wide token source of `command`, so passes share a cached token."""
    with _SOURCES_LOCK:
        return _SOURCES.setdefault(tuple(command), TokenSource(command))
