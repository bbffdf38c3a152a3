"""The state store backends the contract suite runs against, and the helpers its tests share.

Each backend is a factory that opens a fresh, empty store: SQLite in the test's temporary
directory, PostgreSQL in a database of its own on the session's throwaway cluster (the fixture
`postgres_state`, a copy of a database that already has the schema).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bridge.adapters.state.ports import StateStore
from bridge.adapters.state.store import IntendedMessage, PostgresStateStore, SqliteStateStore
from bridge.service.config import StateSettings


def _postgresql(request: pytest.FixtureRequest, _directory: Path) -> StateStore:
    settings: StateSettings = request.getfixturevalue("postgres_state")
    return PostgresStateStore(settings)


BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], StateStore]] = {
    "sqlite": lambda _request, directory: SqliteStateStore(directory / "state.sqlite3"),
    "postgresql": _postgresql,
}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    """A fresh, empty state store of each backend."""
    opened = BACKENDS[str(request.param)](request, tmp_path)
    yield opened
    opened.close()


def intent(message_id: str, *linked: str, uid: int = 1, folder: str = "INBOX") -> IntendedMessage:
    """The intent of a message of `folder`, linking `linked` (its references)."""
    return IntendedMessage(message_id=message_id, linked_ids=linked, folder=folder, uid=uid)


def published(
    store: StateStore, mailbox: str, title: str, *message_ids: str, mail_action: bool = False
) -> int:
    """A thread whose messages are confirmed on page `title`; return its id."""
    thread = store.new_thread(mailbox, title)
    store.record_intent(mailbox, thread, [intent(mid, uid=n + 1) for n, mid in enumerate(message_ids)])
    store.confirm(mailbox, thread, title, list(message_ids), revision=1, mail_action=mail_action)
    return thread
