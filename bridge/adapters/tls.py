"""TLS contexts for the IMAP and SMTP connections: verified by default, the admin's CA file when given."""

from __future__ import annotations

import ssl

from bridge.service.config import TlsSettings


def tls_context(settings: TlsSettings) -> ssl.SSLContext:
    """Return a client TLS context: verifying by default, with an extra CA file when configured."""
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    if not settings.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
