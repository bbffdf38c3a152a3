"""IMAP adapter (imapclient): connect, select, UID-incremental fetch without touching \\Seen."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import TracebackType
from typing import TypeVar

import imapclient
import imapclient.exceptions
import structlog

from bridge.adapters.imap_probe import HeaderProbe, message_id_lines
from bridge.adapters.oauth import token_source
from bridge.adapters.tls import tls_context
from bridge.core.model import FetchedMail
from bridge.errors import MailboxError
from bridge.service.config import MailboxAccount

T = TypeVar("T")
log = structlog.get_logger("bridge.adapters.imap")
# What grouping a backlog into threads needs, and no more: every byte is read for every new mail.
_THREAD_FIELDS = "MESSAGE-ID IN-REPLY-TO REFERENCES THREAD-INDEX DATE"
_THREAD_ITEM = f"BODY.PEEK[HEADER.FIELDS ({_THREAD_FIELDS})]"
_THREAD_KEY = f"BODY[HEADER.FIELDS ({_THREAD_FIELDS})]".encode()
# Errors of the wire and of the protocol; everything else is a bug and must surface as such.
_IMAP_ERRORS = (imapclient.exceptions.IMAPClientError, OSError, socket.timeout, ssl.SSLError)
# A connection that is gone (closed by the server, reset, timed out), as opposed to a refusal.
_LOST = (imapclient.exceptions.IMAPClientAbortError, OSError)


@dataclass(frozen=True, slots=True)
class FolderStatus:
    """What SELECT tells about a folder."""

    uidvalidity: int
    uidnext: int
    exists: int


class ImapMailbox:
    """One logged-in IMAP session of a mapping (named `name` in messages); use as a context manager."""

    def __init__(self, name: str, account: MailboxAccount) -> None:
        self._name = name
        self._account = account
        self._client: imapclient.IMAPClient | None = None
        self._reused = False

    def __enter__(self) -> ImapMailbox:
        self.connect()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _fail(self, action: str, exc: BaseException) -> MailboxError:
        where = f"{self._account.host}:{self._account.port}"
        if isinstance(exc, imapclient.exceptions.IMAPClientError) and exc.args:
            raw = exc.args[0]
            detail = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        else:  # OSError and ssl.SSLError put the readable reason in str(), not args[0]
            detail = str(exc) or type(exc).__name__
        return MailboxError(f"mailbox {self._name}: {action} on {where} failed: {detail}")

    @property
    def client(self) -> imapclient.IMAPClient:
        if self._client is None:
            raise MailboxError(f"mailbox {self._name}: not connected")
        return self._client

    def connect(self) -> None:
        """Connect with the configured security and log in; raise `MailboxError` with the cause."""
        settings = self._account
        context = tls_context(settings.tls)
        try:
            client = imapclient.IMAPClient(
                settings.host,
                port=settings.port,
                ssl=settings.security == "tls",
                ssl_context=context,
                timeout=settings.timeout,
            )
        except _IMAP_ERRORS as exc:
            raise self._fail("connecting", exc) from exc
        client.normalise_times = False  # keep the server's zone: INTERNALDATE stays unambiguous
        try:
            if settings.security == "starttls":
                client.starttls(context)
            if settings.auth == "xoauth2":
                self._oauth2_login(client)
            else:
                client.login(settings.username, settings.password.value)
        except MailboxError:
            client.shutdown()
            raise
        except imapclient.exceptions.LoginError as exc:
            client.shutdown()
            hint = (
                "check the token_command's token and the app's mailbox access"
                if settings.auth == "xoauth2"
                else "check username and password"
            )
            raise MailboxError(
                f"mailbox {self._name}: the IMAP server refused the login of {settings.username!r} ({hint})"
            ) from exc
        except _IMAP_ERRORS as exc:
            client.shutdown()
            raise self._fail("logging in", exc) from exc
        self._client = client

    def _oauth2_login(self, client: imapclient.IMAPClient) -> None:
        """Log in with XOAUTH2; a refused token is fetched anew once (it may have been revoked)."""
        source = token_source(self._account.token_command)
        try:
            client.oauth2_login(self._account.username, source.token())
        except imapclient.exceptions.LoginError:
            source.invalidate()
            client.oauth2_login(self._account.username, source.token())

    @property
    def supports_idle(self) -> bool:
        """Whether the server offers IDLE (RFC 2177)."""
        return bool(self.client.has_capability("IDLE"))

    def wait_for_mail(self, seconds: float, stop: threading.Event) -> bool:
        """Wait up to `seconds` for new mail in the selected folder; True when some arrived.

        Uses IDLE where offered (re-issued by the caller before the 29-minute limit), NOOP polls
        every few seconds elsewhere. Returns early, False, when `stop` is set.
        """
        client = self.client
        deadline = time.monotonic() + seconds
        try:
            if not self.supports_idle:
                while (left := deadline - time.monotonic()) > 0:
                    if stop.wait(min(5.0, left)):
                        return False
                    if _has_new_mail(client.noop()[1]):
                        return True
                return False
            client.idle()
            instant_empty = 0
            try:
                while not stop.is_set() and time.monotonic() < deadline:
                    started = time.monotonic()
                    responses = client.idle_check(timeout=1)
                    if _says_bye(responses):
                        raise MailboxError(f"mailbox {self._name}: the server closed the connection")
                    # imapclient swallows end-of-file: an empty answer without waiting means the
                    # socket is closed, not that nothing happened.
                    instant_empty = (
                        instant_empty + 1 if not responses and time.monotonic() - started < 0.5 else 0
                    )
                    if instant_empty >= 3:
                        raise MailboxError(f"mailbox {self._name}: the connection was lost")
                    if _has_new_mail(responses):
                        return True
                return False
            finally:
                with contextlib.suppress(*_IMAP_ERRORS):
                    client.idle_done()
        except _IMAP_ERRORS as exc:
            raise self._fail("waiting for new mail", exc) from exc

    def close(self) -> None:
        """Log out, ignoring a connection that is already gone."""
        if self._client is not None:
            try:
                self._client.logout()
            except _IMAP_ERRORS:
                with contextlib.suppress(OSError):  # the socket is gone already
                    self._client.shutdown()
            self._client = None

    def reuse(self) -> None:
        """Mark a session kept from an earlier pass: the next `select` logs in again if it was dropped."""
        self._reused = True

    def select(self, folder: str, writable: bool = False) -> FolderStatus:
        """Select `folder` and return its status; read-only unless the pass will flag or move mail.

        SELECT's untagged data (UIDVALIDITY, UIDNEXT) is the pass's one status check of a folder.
        """
        reused, self._reused = self._reused, False
        try:
            try:
                info = self.client.select_folder(folder, readonly=not writable)
            except _LOST:
                if not reused:
                    raise
                # The server or the network dropped the kept session since the last pass:
                # SELECT changes nothing, so it is simply sent again on a new session.
                log.info("imap.reconnecting", mailbox=self._name)
                self.close()
                self.connect()
                info = self.client.select_folder(folder, readonly=not writable)
        except _IMAP_ERRORS as exc:
            raise self._fail(f"selecting folder {folder!r}", exc) from exc
        return FolderStatus(
            uidvalidity=int(info[b"UIDVALIDITY"]),
            uidnext=int(info.get(b"UIDNEXT", 0)),
            exists=int(info.get(b"EXISTS", 0)),
        )

    def uids_after(self, last_uid: int) -> list[int]:
        """Return the UIDs above `last_uid` in the selected folder, ascending."""
        try:
            found = self.client.search(["UID", f"{last_uid + 1}:*"])
        except _IMAP_ERRORS as exc:
            raise self._fail("searching new mail", exc) from exc
        # `n:*` always matches the highest UID, even when it is below n (RFC 3501 6.4.8).
        return sorted(uid for uid in found if uid > last_uid)

    def uids_since(self, day: date) -> list[int]:
        """Return the UIDs of mail whose internal date is on or after `day`, ascending."""
        try:
            return sorted(self.client.search(["SINCE", day]))
        except _IMAP_ERRORS as exc:
            raise self._fail("searching by date", exc) from exc

    def add_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        """Set keywords or flags on mail of the selected folder."""
        if uids:
            self._run("flagging mail", lambda: self.client.add_flags(list(uids), list(flags), silent=True))

    def remove_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        """Clear keywords or flags on mail of the selected folder."""
        if uids:
            self._run(
                "unflagging mail", lambda: self.client.remove_flags(list(uids), list(flags), silent=True)
            )

    def ensure_folder(self, folder: str) -> None:
        """Create `folder` when it does not exist yet."""
        if not self._run("listing folders", lambda: self.client.folder_exists(folder)):
            self._run(f"creating folder {folder!r}", lambda: self.client.create_folder(folder))

    def move(self, uids: Sequence[int], folder: str) -> None:
        """Move mail of the selected folder to `folder`.

        Uses MOVE (RFC 6851) where offered, else COPY, `\\Deleted` and UID EXPUNGE of just those
        UIDs (UIDPLUS), or without UIDPLUS a plain EXPUNGE that spares mail people marked deleted.
        """
        if not uids:
            return
        self.ensure_folder(folder)
        client = self.client
        if client.has_capability("MOVE"):
            self._run(f"moving mail to {folder!r}", lambda: client.move(list(uids), folder))
        else:
            self._run(f"copying mail to {folder!r}", lambda: client.copy(list(uids), folder))
            self._run(
                "marking moved mail deleted", lambda: client.add_flags(list(uids), [imapclient.DELETED])
            )
            if client.has_capability("UIDPLUS"):
                self._run("expunging moved mail", lambda: client.uid_expunge(list(uids)))
            else:
                self._expunge_only(uids)

    def _expunge_only(self, uids: Sequence[int]) -> None:
        """Expunge `uids` on a server without UID EXPUNGE, sparing mail people marked deleted.

        Their \\Deleted flag is lifted for the plain EXPUNGE and set again right after.
        """
        client = self.client
        others = sorted(
            set(self._run("searching deleted mail", lambda: client.search(["DELETED"]))) - set(uids)
        )
        if others:
            self._run("sparing deleted mail", lambda: client.remove_flags(others, [imapclient.DELETED]))
        try:
            self._run("expunging moved mail", client.expunge)
        finally:
            if others:
                self._run("restoring deleted marks", lambda: client.add_flags(others, [imapclient.DELETED]))
        log.info("imap.expunged_without_uidplus", mailbox=self._name, spared=len(others))

    def find_message(self, message_id: str) -> list[int]:
        """Return the UIDs in the selected folder whose Message-ID header contains `message_id`."""
        return sorted(
            self._run("searching a message", lambda: self.client.search(["HEADER", "Message-ID", message_id]))
        )

    def _run(self, action: str, call: Callable[[], T]) -> T:
        try:
            return call()
        except _IMAP_ERRORS as exc:
            raise self._fail(action, exc) from exc

    def message_id_headers(self, uids: Sequence[int]) -> dict[int, HeaderProbe]:
        """Return the raw Message-ID header block, the threading headers and the size of each UID.

        One FETCH, no bodies: a pass plans whole threads and skips known copies from it.
        """
        if not uids:
            return {}
        try:
            response = self.client.fetch(list(uids), [_THREAD_ITEM, "RFC822.SIZE"])
        except _IMAP_ERRORS as exc:
            raise self._fail("fetching headers", exc) from exc
        return {
            uid: HeaderProbe(
                message_id_lines(block := bytes(data.get(_THREAD_KEY, b""))),
                int(data.get(b"RFC822.SIZE", -1)),
                block,
            )
            for uid, data in response.items()
        }

    def from_headers(self, uids: Sequence[int]) -> list[bytes]:
        """Return the raw From header block of each existing UID (`check`'s people report)."""
        if not uids:
            return []
        response = self._run(
            "fetching From headers",
            lambda: self.client.fetch(list(uids), ["BODY.PEEK[HEADER.FIELDS (FROM)]"]),
        )
        return [bytes(data.get(b"BODY[HEADER.FIELDS (FROM)]", b"")) for data in response.values()]

    def uids_between(self, since: date | None, before: date | None) -> list[int]:
        """Return the UIDs of mail received on or after `since` and before `before`, ascending."""
        criteria: list[object] = []
        if since is not None:
            criteria += ["SINCE", since]
        if before is not None:
            criteria += ["BEFORE", before]
        return sorted(self._run("searching by date", lambda: self.client.search(criteria or ["ALL"])))

    def fetch(self, folder: str, uids: Sequence[int]) -> Iterator[FetchedMail]:
        """Yield the full mails of `uids` with BODY.PEEK[] (\\Seen untouched), ascending by UID."""
        if not uids:
            return
        try:
            response = self.client.fetch(list(uids), ["BODY.PEEK[]", "INTERNALDATE"])
        except _IMAP_ERRORS as exc:
            raise self._fail("fetching mail", exc) from exc
        for uid in sorted(response):
            data = response[uid]
            internal = data.get(b"INTERNALDATE")
            if not isinstance(internal, datetime):
                internal = None
            elif internal.tzinfo is None:
                internal = internal.replace(tzinfo=UTC)
            yield FetchedMail(
                folder=folder, uid=uid, raw=bytes(data.get(b"BODY[]", b"")), internal_date=internal
            )


def _says_bye(responses: object) -> bool:
    """True when the server announced that it closes the connection (untagged BYE)."""
    return isinstance(responses, list) and any(
        isinstance(item, tuple) and item[:1] == (b"BYE",) for item in responses
    )


def _has_new_mail(responses: object) -> bool:
    """True when untagged responses announce mail (EXISTS or RECENT)."""
    if not isinstance(responses, list):
        return False
    return any(
        isinstance(item, tuple) and len(item) >= 2 and item[1] in (b"EXISTS", b"RECENT") for item in responses
    )
