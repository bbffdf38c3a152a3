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
        # SMTP wants CRLF line ends (RFC 5321); the stored mail may have bare LFs.
        wire = message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        try:
            refused = self._client.sendmail("", [recipient], wire)
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()), (0, b""))[0]
            raise MailError(
                f"the SMTP server refused the recipient {recipient}: {code}", permanent=code >= 500
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise MailError(
                f"the SMTP server did not accept the reply to {recipient}: {exc.smtp_code}",
                permanent=exc.smtp_code >= 500 and not isinstance(exc, smtplib.SMTPSenderRefused),
            ) from exc
        except _SMTP_ERRORS as exc:
            self.close()
            raise MailError(f"the SMTP server did not accept the reply to {recipient}: {exc}") from exc
        if refused:
            raise MailError(f"the SMTP server refused the recipient {recipient}", permanent=True)

    def close(self) -> None:
        """Say goodbye, ignoring a connection that is already gone."""
        if self._client is not None:
            try:
                self._client.quit()
            except _SMTP_ERRORS:
                self._client.close()
            self._client = None
