"""MediaWiki Action API adapter (requests): bot-password login, tokens, maxlag, edits.

Every write carries `assert=user` (a lost session fails instead of editing anonymously) and
`maxlag`; lag, 5xx answers and dropped connections are retried with backoff, and what stays
unavailable becomes `WikiUnavailableError`, so the pass stops and later passes resume.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

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


@dataclass(frozen=True, slots=True)
class EditResult:
    """A confirmed edit: the page's normalized title and the new revision id."""

    title: str
    revision: int
    changed: bool = True


@dataclass(frozen=True, slots=True)
class PageContent:
    """A page's current wikitext and revision."""

    title: str
    text: str
    revision: int


class WikiClient:
    """A logged-in session with one wiki. `session` and `sleep` can be injected (tests, retries)."""

    def __init__(
        self,
        settings: WikiSettings,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_retries: int = 4,
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
        self._clock = time.monotonic
        self._last_write = float("-inf")
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
        self.retries += 1
        delay = float(retry_after) if retry_after and retry_after.isdigit() else float(2**attempt)
        self._sleep(min(delay, 30.0))

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
        if not self.username:
            self.login()

    def _token(self) -> str:
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

    # -- pages -------------------------------------------------------------------------------

    def _throttle(self) -> None:
        """Keep to `edits_per_minute` (when set) by spacing writes evenly."""
        per_minute = self._settings.edits_per_minute
        if per_minute <= 0:
            return
        wait = self._last_write + 60.0 / per_minute - self._clock()
        if wait > 0:
            self._sleep(wait)
        self._last_write = self._clock()

    def _edit(self, params: Mapping[str, Any], title: str, summary: str, action: str) -> EditResult:
        self._throttle()
        extra = {"bot": "1"} if "bot" in self.rights else {}
        body = self._write({"action": "edit", "title": title, "summary": summary, **extra, **params}, action)
        edit = body.get("edit", {})
        if edit.get("result") != "Success":
            raise WikiRefusedError(f"the wiki did not save {title!r}: {edit}", "editfailed")
        self.edits += 1
        if edit.get("nochange"):
            return EditResult(title=str(edit.get("title", title)), revision=0, changed=False)
        return EditResult(title=str(edit.get("title", title)), revision=int(edit["newrevid"]))

    def create_page(self, title: str, text: str, summary: str) -> EditResult | None:
        """Create a page; return None, writing nothing, when a page of that title already exists."""
        try:
            return self._edit({"text": text, "createonly": "1"}, title, summary, f"create {title!r}")
        except WikiError as exc:
            if exc.code == "articleexists":
                return None
            raise

    def replace_page(self, title: str, text: str, summary: str, base_revision: int) -> EditResult:
        """Replace a page's text, failing with `editconflict` if someone saved after `base_revision`."""
        return self._edit(
            {"text": text, "baserevid": str(base_revision), "nocreate": "1"},
            title,
            summary,
            f"update {title!r}",
        )

    def append_to_page(self, title: str, text: str, summary: str) -> EditResult | None:
        """Append to an existing page on top of whatever people edited; None when the page is gone."""
        try:
            return self._edit({"appendtext": text, "nocreate": "1"}, title, summary, f"append to {title!r}")
        except WikiError as exc:
            if exc.code == "missingtitle":
                return None
            raise

    def page_content(self, title: str) -> PageContent | None:
        """Return the current wikitext and revision of a page, or None when it does not exist."""
        self._ensure_login()
        body = self._call(
            "GET",
            {
                "action": "query",
                "prop": "revisions",
                "titles": title,
                "rvprop": "ids|content",
                "rvslots": "main",
            },
        )
        self._raise_for(body, f"read {title!r}")
        pages = body.get("query", {}).get("pages", [])
        if not pages or pages[0].get("missing") or not pages[0].get("revisions"):
            return None
        revision = pages[0]["revisions"][0]
        return PageContent(
            title=str(pages[0]["title"]),
            text=str(revision["slots"]["main"]["content"]),
            revision=int(revision["revid"]),
        )

    def max_article_size(self) -> int:
        """Return the largest page the wiki stores, in bytes of wikitext (`$wgMaxArticleSize`; asked once)."""
        if self._max_article_size is None:
            self._ensure_login()
            body = self._call("GET", {"action": "query", "meta": "siteinfo", "siprop": "general"})
            self._raise_for(body, "describe its page size limit")
            # Wikis older than MediaWiki 1.28 do not say; theirs is the same 2 MB default.
            self._max_article_size = int(body["query"]["general"].get("maxarticlesize", 2048 * 1024))
        return self._max_article_size

    def page_length(self, title: str) -> int | None:
        """Return a page's current size in bytes (without reading its text), or None when it is missing."""
        self._ensure_login()
        body = self._call("GET", {"action": "query", "prop": "info", "titles": title})
        self._raise_for(body, f"measure {title!r}")
        pages = body.get("query", {}).get("pages", [])
        if not pages or pages[0].get("missing") or pages[0].get("invalid"):
            return None
        return int(pages[0].get("length", 0))

    def upload_limits(self) -> UploadLimits:
        """Return the file extensions and the largest upload the wiki accepts (asked once)."""
        if self._limits is None:
            self._ensure_login()
            body = self._call(
                "GET", {"action": "query", "meta": "siteinfo", "siprop": "general|fileextensions"}
            )
            self._raise_for(body, "describe its upload limits")
            query = body["query"]
            enabled = bool(query["general"].get("uploadsenabled", False))
            self._limits = UploadLimits(
                extensions=frozenset(str(e["ext"]).lower() for e in query.get("fileextensions", []))
                if enabled
                else frozenset(),
                max_bytes=int(query["general"].get("maxuploadsize", 0)),
            )
        return self._limits

    def file_with_sha1(self, sha1: str) -> str | None:
        """Return the title (`File:…`) of a file with this content on the wiki, if there is one."""
        self._ensure_login()
        body = self._call("GET", {"action": "query", "list": "allimages", "aisha1": sha1, "ailimit": "1"})
        self._raise_for(body, "look up a file")
        images = body.get("query", {}).get("allimages", [])
        return f"File:{images[0]['name']}" if images else None

    def _upload_write(
        self, params: Mapping[str, Any], filename: str, files: Mapping[str, Any]
    ) -> dict[str, Any]:
        """POST an upload; the wiki failing inside on this one file (a broken image) refuses only it."""
        try:
            return self._write(params, f"upload {filename!r}", files=files)
        except WikiUnavailableError:
            raise
        except WikiError as exc:
            if exc.code.startswith("internal_api_error"):
                raise WikiRefusedError(f"the wiki could not process {filename!r}: {exc}", exc.code) from exc
            raise

    def upload(self, filename: str, data: bytes, comment: str) -> str:
        """Upload a file under `filename` and return its title; an identical existing file is success.

        The name carries the content hash, so an existing file of that name holds this content.
        """
        self._throttle()
        params = {"action": "upload", "filename": filename, "comment": comment}
        files = {"file": (filename, data, "application/octet-stream")}
        body = self._upload_write(params, filename, files)
        result = body.get("upload", {})
        if result.get("result") == "Warning":
            warnings = result.get("warnings", {})
            if {"exists", "duplicate", "nochange"} & set(warnings):
                existing = self.file_with_sha1(hashlib.sha1(data).hexdigest())  # noqa: S324 - MediaWiki's own file key
                if existing is not None:
                    return existing
            if {"exists", "exists-normalized"} & set(warnings):
                # Never overwrite a file that is not this content.
                raise WikiRefusedError(
                    f"a different file named {filename!r} exists on the wiki", "fileexists"
                )
            body = self._upload_write({**params, "ignorewarnings": "1"}, filename, files)
            result = body.get("upload", {})
        if result.get("result") != "Success":
            raise WikiRefusedError(f"the wiki did not store {filename!r}: {result}", "uploadfailed")
        self.edits += 1
        return f"File:{result.get('filename', filename)}"

    def allowed_actions(self, title: str, actions: Sequence[str]) -> dict[str, bool]:
        """Tell which of `actions` (edit, create, upload …) the account may do on `title`."""
        self._ensure_login()
        body = self._call(
            "GET", {"action": "query", "prop": "info", "titles": title, "intestactions": "|".join(actions)}
        )
        self._raise_for(body, f"check the rights on {title!r}")
        pages = body.get("query", {}).get("pages", [])
        granted = pages[0].get("actions", {}) if pages else {}
        return {action: bool(granted.get(action)) for action in actions}

    def site_name(self) -> str:
        """Return the wiki's name and version (used by `check`)."""
        body = self._call("GET", {"action": "query", "meta": "siteinfo", "siprop": "general"})
        self._raise_for(body, "describe itself")
        general = body["query"]["general"]
        return f"{general.get('sitename', '?')} ({general.get('generator', '?')})"

    def pages_under(self, prefix: str, limit: int | None = None) -> Iterator[PageContent]:
        """Yield the pages titled `prefix/…` with their wikitext (list=allpages, any namespace).

        With `limit`, one request for at most that many pages (a cheap look); without, every
        page, following the API's continuation.
        """
        self._ensure_login()
        # The wiki normalises the prefix (namespace, first letter, underscores) as it does titles.
        probe = self._call("GET", {"action": "query", "titles": f"{prefix}/X"})
        self._raise_for(probe, f"read the title {prefix!r}")
        page = probe["query"]["pages"][0]
        namespace = int(page.get("ns", 0))
        local = str(page["title"]).split(":", 1)[1] if namespace else str(page["title"])
        params: dict[str, Any] = {
            "action": "query",
            "generator": "allpages",
            "gapnamespace": str(namespace),
            "gapprefix": local[:-1],
            "gaplimit": str(min(limit or 50, 50)),
            "prop": "revisions",
            "rvprop": "ids|content",
            "rvslots": "main",
        }
        while True:
            body = self._call("GET", params)
            self._raise_for(body, f"list the pages under {prefix!r}")
            for item in sorted(body.get("query", {}).get("pages", []), key=lambda item: str(item["title"])):
                # A page without its text here gets it in a later part of the answer.
                for revision in item.get("revisions", [])[:1]:
                    yield PageContent(
                        title=str(item["title"]),
                        text=str(revision["slots"]["main"]["content"]),
                        revision=int(revision["revid"]),
                    )
            if limit is not None or "continue" not in body:
                return
            params = {**params, **body["continue"]}

    def page_url(self, title: str) -> str:
        """Return the reader's URL of a page (derived from api_url; index.php sits beside api.php)."""
        base = self._settings.api_url.rsplit("/", 1)[0]
        return f"{base}/index.php?title={quote(title.replace(' ', '_'), safe='/:')}"
