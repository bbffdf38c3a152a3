"""SMTP adapter (smtplib): sends link replies with TLS verified by default."""

from __future__ import annotations

import re
import smtplib
import ssl
from types import TracebackType

from bridge.adapters.tls import tls_context
from bridge.errors import MailError, MailUncertainError
from bridge.service.config import SmtpSettings

_SMTP_ERRORS = (smtplib.SMTPException, OSError, ssl.SSLError)


def _wire(message: bytes) -> bytes:
    """The mail data as sent after DATA: CRLF line ends (RFC 5321), dot-stuffed, ending `.`."""
    lines = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if not lines.endswith(b"\r\n"):
        lines += b"\r\n"
    return re.sub(rb"(?m)^\.", b"..", lines) + b".\r\n"


class Mailer:
    """A lazily opened SMTP session; use as a context manager."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._client: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _connect(self) -> smtplib.SMTP:
        settings = self._settings
        context = tls_context(settings.tls)
        try:
            client: smtplib.SMTP
            if settings.security == "tls":
                client = smtplib.SMTP_SSL(
                    settings.host, settings.port, timeout=settings.timeout, context=context
                )
            else:
                client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
                if settings.security == "starttls":
                    client.starttls(context=context)
            if settings.username:
                client.login(settings.username, settings.password.value)
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(f"the SMTP server refused the login of {settings.username!r}") from exc
        except _SMTP_ERRORS as exc:
            raise MailError(f"the SMTP server {settings.host}:{settings.port} cannot be used: {exc}") from exc
        return client

    def send(self, message: bytes, recipient: str) -> None:
        """Send a composed mail to `recipient` with an empty envelope sender (RFC 3834: no bounces).

        Returns once the server accepted the mail (its 250 after the data). Raises `MailError`
        when the server refused, or could not be reached, before the mail data was sent: nothing
        was delivered (`permanent` for a 5xx about this recipient or mail). Raises
        `MailUncertainError` when the connection broke after the data was sent: the server may
        have taken it. The dialogue is driven step by step (smtplib's `sendmail` hides where it
        failed) to tell these apart.
        """
        if self._client is None:
            self._client = self._connect()
        client = self._client
        try:
            client.ehlo_or_helo_if_needed()
            # A refused sender concerns every reply, not this one: never permanent for it.
            self._expect(client.mail(""), (250,), f"the sender of the reply to {recipient}", permanent=False)
            self._expect(client.rcpt(recipient), (250, 251), f"the recipient {recipient}")
            client.putcmd("data")
            self._expect(client.getreply(), (354,), f"the reply to {recipient}")
        except UnicodeEncodeError as exc:
            self._reset()
            raise MailError(f"the address {recipient} cannot be used over SMTP", permanent=True) from exc
        except _SMTP_ERRORS as exc:
            self.close()
            raise MailError(f"the SMTP server did not accept the reply to {recipient}: {exc}") from exc
        try:
            client.send(_wire(message))
            code, answer = client.getreply()
        except _SMTP_ERRORS as exc:
            self.close()
            raise MailUncertainError(
                f"the connection to the SMTP server broke after the reply to {recipient} was sent: {exc}"
            ) from exc
        self._expect((code, answer), (250,), f"the reply to {recipient}")

    def _expect(
        self, answer: tuple[int, bytes], wanted: tuple[int, ...], what: str, permanent: bool | None = None
    ) -> None:
        """Raise `MailError` (ending the transaction) unless the server's answer is one of `wanted`."""
        code = answer[0]
        if code in wanted:
            return
        self._reset()
        text = answer[1].decode("utf-8", "replace")
        raise MailError(
            f"the SMTP server refused {what}: {code} {text}",
            permanent=code >= 500 if permanent is None else permanent,
        )

    def _reset(self) -> None:
        """End a refused transaction (RSET), so the session can carry the next reply."""
        if self._client is None:
            return
        try:
            self._client.rset()
        except _SMTP_ERRORS:
            self.close()

    def close(self) -> None:
        """Say goodbye, ignoring a connection that is already gone."""
        if self._client is not None:
            try:
                self._client.quit()
            except _SMTP_ERRORS:
                self._client.close()
            self._client = None
