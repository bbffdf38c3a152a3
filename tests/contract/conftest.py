"""Real servers for the contract suites: the session fixtures of tests/integration, shared here.

A contract test asks for them only in its `real` parametrization, so the fake half of a suite
starts no server.
"""

from tests.integration.conftest import (
    dovecot,
    mediawiki,
    postgres,
    postgres_state,
    postgres_template,
    server_root,
    smtp_sink_session,
)

__all__ = [
    "dovecot",
    "mediawiki",
    "postgres",
    "postgres_state",
    "postgres_template",
    "server_root",
    "smtp_sink_session",
]
