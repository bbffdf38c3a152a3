"""The MediaWiki Action API session (requests): bot-password login, tokens, maxlag, retries, pacing.

Every write carries `assert=user` (a lost session fails instead of editing anonymously) and
`maxlag`; lag, 5xx answers and dropped connections are retried with backoff, and what stays
unavailable becomes `WikiUnavailableError`, so the pass stops and later passes resume. Error codes
are sorted here into unavailable (retry later), refused (this content, for good) and other.

With `[wiki] concurrency` above 1, several threads share one session: login and tokens are
fetched once under a lock, `edits_per_minute` spaces the writes of all threads, and a lag or
overload answer to one thread pauses the requests of all of them until its backoff is over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from bridge import __version__
from bridge.core.attachments import UploadLimits
from bridge.errors import WikiError, WikiRefusedError, WikiUnavailableError
from bridge.service.config import WikiSettings

USER_AGENT = (
    f"email-wiki-bridge/{__version__} (MediaWiki mail bridge; python-requests/{requests.__version__})"
)
_TRANSIENT_CODES = frozenset({"maxlag", "readonly", "ratelimited", "internal_api_error_DBQueryError"})
_REFUSED_CODES = frozenset(
    {
        "contenttoobig",
        "spamblacklist",
        "spamprotectionmatch",
        "spamprotectiontext",
        "spamdetected",
        "abusefilter-blocked",
        "titleblacklist-forbidden-edit",
        "abusefilter-disallowed",
        "abusefilter-warning",
        "titleblacklist-forbidden",
        "invalidtitle",
        "protectedpage",
        "cascadeprotected",
        "verification-error",
        "filetype-banned",
        "filetype-missing",
        "file-too-large",
        "empty-file",
        "illegal-filename",
        "badupload",
        "fileexists-forbidden",
    }
)
_SESSION_CODES = frozenset({"assertuserfailed", "assertbotfailed", "badtoken", "notloggedin"})


class WikiSession:
    """A logged-in session with one wiki. `session`, `sleep` and `clock` can be injected (tests, retries)."""

    def __init__(
        self,
        settings: WikiSettings,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        self._session.verify = str(settings.tls.ca_file) if settings.tls.ca_file else settings.tls.verify
        self._sleep = sleep
        self._max_retries = max_retries
        self._csrf: str | None = None
        self._limits: UploadLimits | None = None
        self._max_article_size: int | None = None
        self._user_namespace: str | None = None
        self._clock = clock
        self._last_write = float("-inf")
        # The limiter all threads share: the next write's slot, and a pause after lag or overload.
        self._gate = threading.Lock()
        self._paused_until = float("-inf")
        self._paused_by = 0
        self._login_lock = threading.RLock()
        self.rights: frozenset[str] = frozenset()
        self.username = ""
        self.edits = 0
        self.retries = 0

    def close(self) -> None:
        """Drop the HTTP session."""
        self._session.close()

    # -- transport ---------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        params: Mapping[str, Any],
        repeatable: bool = True,
        files: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One API call with retries on lag, 5xx and dropped connections; returns the JSON body.

        A write that is not `repeatable` is never resent after a 5xx or a lost connection: it may
        have been carried out, and the caller's recovery checks the page before writing again.
        A maxlag refusal is always safe to resend, as the wiki did nothing.
        """
        retries = self._max_retries if repeatable else 0
        payload = {**params, "format": "json", "formatversion": "2", "maxlag": str(self._settings.maxlag)}
        for attempt in range(self._max_retries + 1):
            self._wait_for_pause()
            try:
                if method == "GET":
                    response = self._session.get(
                        self._settings.api_url, params=payload, timeout=self._settings.timeout
                    )
                else:
                    response = self._session.post(
                        self._settings.api_url, data=payload, files=files, timeout=self._settings.timeout
                    )
            except requests.exceptions.SSLError as exc:
                raise WikiError(
                    f"the TLS certificate of {self._settings.api_url} was not accepted: {exc}"
                ) from exc
            except requests.RequestException as exc:
                if attempt >= retries:
                    raise WikiUnavailableError(
                        f"the wiki at {self._settings.api_url} cannot be reached ({type(exc).__name__})"
                    ) from exc
                self._backoff(attempt, None)
                continue
            if response.status_code >= 500:
                if attempt >= retries:
                    raise WikiUnavailableError(f"the wiki answered HTTP {response.status_code} repeatedly")
                self._backoff(attempt, response.headers.get("Retry-After"))
                continue
            body = self._json(response)
            error = body.get("error")
            if isinstance(error, dict) and error.get("code") == "maxlag" and attempt < self._max_retries:
                self._backoff(attempt, response.headers.get("Retry-After"))
                continue
            return body
        raise AssertionError("unreachable: the loop returns or raises")

    def _backoff(self, attempt: int, retry_after: str | None) -> None:
        """Sleep before a retry; the other threads wait for the same pause (the wiki is lagging)."""
        delay = float(retry_after) if retry_after and retry_after.isdigit() else float(2**attempt)
        delay = min(delay, 30.0)
        with self._gate:
            self.retries += 1
            self._paused_until = max(self._paused_until, self._clock() + delay)
            self._paused_by = threading.get_ident()
        self._sleep(delay)

    def _wait_for_pause(self) -> None:
        """Wait out a pause another thread's backoff set (the thread that set it slept it already)."""
        with self._gate:
            mine = self._paused_by == threading.get_ident()
            wait = 0.0 if mine else self._paused_until - self._clock()
        if wait > 0:
            self._sleep(wait)

    def _json(self, response: requests.Response) -> dict[str, Any]:
        content_type = response.headers.get("Content-Type", "")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            # MediaWiki answers an oversized POST with its HTML help page and HTTP 200.
            raise WikiError(
                f"the wiki answered HTTP {response.status_code} with {content_type or 'no content type'}, "
                f"not API JSON; check wiki.api_url ({self._settings.api_url}) and the request size"
            )
        return body

    def _raise_for(self, body: Mapping[str, Any], action: str) -> None:
        error = body.get("error")
        if not isinstance(error, dict):
            return
        code, info = str(error.get("code", "")), str(error.get("info", ""))
        if error.get("readonlyreason"):
            info = f"{info} Reason: {error['readonlyreason']}"
        text = f"the wiki refused to {action}: {info or code} ({code})"
        if code in _TRANSIENT_CODES:
            raise WikiUnavailableError(text, code)
        if code in _REFUSED_CODES:
            raise WikiRefusedError(text, code)
        raise WikiError(text, code)

    # -- session -----------------------------------------------------------------------------

    def login(self) -> None:
        """Log in (bot password, or an OAuth 2.0 access token) and learn the account's rights."""
        with self._login_lock:
            self._login()

    def _login(self) -> None:
        if self._settings.auth == "oauth2":
            # An owner-only OAuth 2.0 consumer: every request carries the token; nothing to log in.
            self._session.headers["Authorization"] = f"Bearer {self._settings.password.value}"
            self._learn_identity()
            return
        tokens = self._call("GET", {"action": "query", "meta": "tokens", "type": "login"})
        self._raise_for(tokens, "hand out a login token")
        login_token = tokens["query"]["tokens"]["logintoken"]
        result = self._call(
            "POST",
            {
                "action": "login",
                "lgname": self._settings.username,
                "lgpassword": self._settings.password.value,
                "lgtoken": login_token,
            },
        )
        self._raise_for(result, "log in")
        login = result.get("login", {})
        if login.get("result") != "Success":
            reason = login.get("reason") or login.get("result") or "no reason given"
            raise WikiError(
                f"the wiki refused the login of {self._settings.username!r}: {reason} "
                "(use a bot password from Special:BotPasswords, login name 'User@app')"
            )
        self._learn_identity()

    def _learn_identity(self) -> None:
        info = self._call("GET", {"action": "query", "meta": "userinfo", "uiprop": "rights|groups"})
        self._raise_for(info, "tell the account's rights")
        userinfo = info["query"]["userinfo"]
        if userinfo.get("anon") is not None and userinfo.get("anon") is not False:
            raise WikiError("the wiki does not accept the OAuth 2.0 access token (requests stay anonymous)")
        self.username = str(userinfo.get("name", ""))
        self.rights = frozenset(userinfo.get("rights", []))
        self._csrf = None

    def _ensure_login(self) -> None:
        # Lazy, so a pass with nothing to publish sends no request to the wiki at all.
        with self._login_lock:
            if not self.username:
                self._login()

    def _token(self) -> str:
        with self._login_lock:
            if self._csrf is None:
                body = self._call("GET", {"action": "query", "meta": "tokens", "type": "csrf"})
                self._raise_for(body, "hand out an edit token")
                self._csrf = str(body["query"]["tokens"]["csrftoken"])
            return self._csrf

    def _write(
        self, params: Mapping[str, Any], action: str, files: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """POST a write with token and assertions; renew an expired session or token once."""
        self._ensure_login()
        for renewed in (False, True):
            body = self._call(
                "POST", {**params, "token": self._token(), "assert": "user"}, repeatable=False, files=files
            )
            error = body.get("error")
            if isinstance(error, dict) and error.get("code") in _SESSION_CODES and not renewed:
                self.login()
                continue
            self._raise_for(body, action)
            return body
        raise AssertionError("unreachable: the loop returns or raises")

    def _throttle(self) -> None:
        """Keep to `edits_per_minute` (when set) by spacing the writes of all threads evenly."""
        per_minute = self._settings.edits_per_minute
        if per_minute <= 0:
            return
        with self._gate:
            slot = max(self._last_write + 60.0 / per_minute, self._clock())
            self._last_write = slot
        wait = slot - self._clock()
        if wait > 0:
            self._sleep(wait)
