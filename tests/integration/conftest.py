"""Real servers for the integration tests: one Dovecot, one MediaWiki and one SMTP sink per session.

Starting them costs about 0.05 s (Dovecot) and 1.5 s (MediaWiki install), so they are shared by
the whole session; tests keep apart by using their own IMAP folders and page prefixes. A missing
package makes the fixtures fail with an error that says how to install it; they never skip, so a
machine without the servers cannot pass the suite by accident.

Set ``EWB_KEEP_SERVER_DIRS=1`` to keep the servers' directories (logs, Maildirs, the wiki's
SQLite database) after the session for debugging; their location is printed at the end.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.adapters.state.store import PostgresStateStore
from bridge.service.config import StateSettings
from tests.integration.support import Space, WikiReader, new_space
from tests.servers import (
    DovecotServer,
    MediaWikiServer,
    PostgresServer,
    SmtpSink,
    make_temp_dir,
    start_dovecot,
    start_mediawiki,
    start_postgres,
    start_smtp_sink,
)

STATE_TEMPLATE = "state_template"
TEAM_USERS = {
    "team-sales": "secret-sales",
    "team-support": "secret-support",
    "team-dev": "secret-dev",
}


@pytest.fixture(scope="session")
def server_root(pytestconfig: pytest.Config) -> Iterator[Path]:
    """A short, world-searchable directory holding every server's files (Dovecot needs both)."""
    root = make_temp_dir()
    yield root
    if os.environ.get("EWB_KEEP_SERVER_DIRS"):
        # The terminal reporter writes past pytest's output capturing, which would eat a print().
        reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"server directories kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot(server_root: Path) -> Iterator[DovecotServer]:
    """Dovecot on 127.0.0.1 with users team-sales, team-support and team-dev (see TEAM_USERS)."""
    server = start_dovecot(server_root / "imap", TEAM_USERS)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mediawiki(server_root: Path) -> Iterator[MediaWikiServer]:
    """A fresh MediaWiki with Admin, the bot Bridgebot (bot password Bridgebot@bridge) and Alice."""
    server = start_mediawiki(server_root / "wiki")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres(server_root: Path) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster (superuser ewb, trust on loopback); tests make their own databases."""
    server = start_postgres(server_root / "pg")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresServer) -> str:
    """The name of a database holding the state store's current schema, to copy for each test."""
    postgres.create_database(STATE_TEMPLATE)
    PostgresStateStore(StateSettings(url=postgres.url(STATE_TEMPLATE))).close()
    return STATE_TEMPLATE


@pytest.fixture
def postgres_state(postgres: PostgresServer, postgres_template: str) -> Iterator[StateSettings]:
    """`[state]` settings naming a fresh PostgreSQL database with the store's schema (dropped after)."""
    name = f"state_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(name, template=postgres_template)
    yield StateSettings(url=url)
    postgres.drop_database(name)


@pytest.fixture(scope="session")
def smtp_sink_session() -> Iterator[SmtpSink]:
    """The one SMTP sink of the session; tests use ``smtp_sink``, which starts out empty."""
    sink = start_smtp_sink()
    yield sink
    sink.stop()


@pytest.fixture
def smtp_sink(smtp_sink_session: SmtpSink) -> SmtpSink:
    """An SMTP sink on 127.0.0.1 holding only the messages sent during this test."""
    smtp_sink_session.clear()
    return smtp_sink_session


@pytest.fixture(autouse=True)
def _servers_back_to_normal(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test, undo fault injection and restart stopped servers, even if the test failed.

    Only servers the test asked for are touched, so unit-style tests start none.
    """
    yield
    if "mediawiki" in request.fixturenames:
        wiki: MediaWikiServer = request.getfixturevalue("mediawiki")
        wiki.set_fake_lag(None)
        wiki.set_readonly(None)
        wiki.set_ratelimit(None)
        wiki.set_spam_regex(None)
        if not wiki.running:
            wiki.start()
    if "dovecot" in request.fixturenames:
        imap: DovecotServer = request.getfixturevalue("dovecot")
        if not imap.running:
            imap.start()


@pytest.fixture
def space(dovecot: DovecotServer, mediawiki: MediaWikiServer, tmp_path: Path) -> Space:
    """A fresh mapping on the session's servers: its own IMAP folder, page prefix and state file."""
    return new_space(dovecot, mediawiki, tmp_path)


@pytest.fixture
def reader(mediawiki: MediaWikiServer) -> WikiReader:
    """An anonymous reader of the session's wiki."""
    return WikiReader(mediawiki)
