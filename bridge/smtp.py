"""SMTP adapter (smtplib): sends link replies with TLS verified by default."""

from __future__ import annotations

import smtplib
import ssl
from types import TracebackType

from bridge.config import SmtpSettings
from bridge.errors import MailError
from bridge.imap import tls_context

_SMTP_ERRORS = (smtplib.SMTPException, OSError, ssl.SSLError)


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

        Returns once the server accepted the mail (its 250 after DATA); raises `MailError` otherwise.
        """
        if self._client is None:
            self._client = self._connect()
        try:
            refused = self._client.sendmail("", [recipient], message)
        except _SMTP_ERRORS as exc:
            self.close()
            raise MailError(f"the SMTP server did not accept the reply to {recipient}: {exc}") from exc
        if refused:
            raise MailError(f"the SMTP server refused the recipient {recipient}: {refused[recipient]}")

    def close(self) -> None:
        """Say goodbye, ignoring a connection that is already gone."""
        if self._client is not None:
            try:
                self._client.quit()
            except _SMTP_ERRORS:
                self._client.close()
            self._client = None
