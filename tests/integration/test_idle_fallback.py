"""New-mail waiting on a server without IDLE: the watcher falls back to NOOP polling."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.adapters.imap import ImapMailbox
from tests.integration.support import make_mail, new_space
from tests.servers import DovecotServer, MediaWikiServer, append_mail, start_dovecot

# Dovecot 2.3's post-login capabilities, IDLE left out.
_NO_IDLE = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS "
    "MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC "
    "ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE"
)


@pytest.fixture(scope="module")
def dovecot_without_idle(server_root: Path) -> Iterator[DovecotServer]:
    """A Dovecot that does not offer IDLE."""
    server = start_dovecot(
        server_root / "imap-no-idle",
        {"team-sales": "secret-sales"},
        extra_config=f"imap_capability = {_NO_IDLE}\n",
    )
    yield server
    server.stop()


def test_without_idle_new_mail_is_noticed_by_noop_polling(
    dovecot_without_idle: DovecotServer, mediawiki: MediaWikiServer, tmp_path: Path
) -> None:
    """On a server without IDLE, `wait_for_mail` notices an APPEND within the NOOP interval."""
    space = new_space(dovecot_without_idle, mediawiki, tmp_path)
    space.append(make_mail("first@example.de", "Vorher"))
    settings = space.settings().mailboxes[0]
    stop = threading.Event()
    with ImapMailbox(settings.name, settings.account) as imap:
        assert not imap.supports_idle
        imap.select(space.folders[0])
        timer = threading.Timer(
            1.0,
            lambda: append_mail(
                dovecot_without_idle, "team-sales", space.folders[0], make_mail("n@e.de", "Neu")
            ),
        )
        timer.start()
        started = time.monotonic()
        try:
            assert imap.wait_for_mail(30, stop)
        finally:
            timer.join()
        assert time.monotonic() - started < 8  # one NOOP every 5 s at most
