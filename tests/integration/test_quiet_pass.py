"""What a pass costs the servers: a quiet pass is one SELECT (EXAMINE) per folder, no wiki request.

The bridge talks to the real Dovecot and MediaWiki through recording proxies
(tests/faultproxy.py), which count the IMAP commands and the wiki's HTTP requests (`php -S`
closes every connection, so each request is one connection). The daemon keeps a mapping's
sessions between passes (`MappingSessions`); `once` opens new ones, as a new process must.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.adapters.state.store import SqliteStateStore
from bridge.adapters.wiki import WikiClient
from bridge.service.config import Settings
from bridge.service.daemon import run_pass
from bridge.service.sessions import KEEP_SECONDS, MappingSessions
from bridge.sync.wikisetup import install_templates
from tests.faultproxy import FaultProxy
from tests.integration.support import Space, make_mail, new_space, unique
from tests.servers import DovecotServer, MediaWikiServer

MAPPINGS = 4
_COMMAND = re.compile(rb"^[A-Za-z0-9]+ (?:UID )?([A-Z]+)\b")


def imap_commands(proxy: FaultProxy) -> Counter[str]:
    """The IMAP commands clients sent through `proxy` since it was last cleared, by name."""
    return Counter(
        match.group(1).decode()
        for sent in proxy.sent
        for line in bytes(sent).split(b"\r\n")
        if (match := _COMMAND.match(line))
    )


def wiki_requests(proxy: FaultProxy) -> list[str]:
    """The HTTP requests sent through `proxy` since it was last cleared (request line and form)."""
    return [bytes(sent).decode("utf-8", "replace") for sent in proxy.sent]


@dataclass
class Mappings:
    """Several mappings of one config, each with its own folder and prefix, behind two proxies."""

    space: Space
    settings: Settings
    state: SqliteStateStore
    imap: FaultProxy
    wiki: FaultProxy
    sessions: dict[str, MappingSessions]

    def folder(self, index: int) -> str:
        return self.settings.mailboxes[index].account.folders[0]

    def passes(self, kept: bool) -> list[int | None]:
        """One pass of every mapping (with the daemon's kept sessions, or new ones as `once`)."""
        published = []
        for mailbox in self.settings.mailboxes:
            sessions = self.sessions[mailbox.name] if kept else None
            result = run_pass(mailbox, self.settings, self.state, sessions=sessions)
            published.append(None if result is None else result.published)
        return published

    def clear(self) -> None:
        self.imap.clear()
        self.wiki.clear()


@pytest.fixture
def mappings(dovecot: DovecotServer, mediawiki: MediaWikiServer, tmp_path: Path) -> Iterator[Mappings]:
    space = new_space(dovecot, mediawiki, tmp_path)
    with (
        FaultProxy(dovecot.host, dovecot.port, seed=1, record=True) as imap,
        FaultProxy("127.0.0.1", mediawiki.port, seed=2, record=True) as wiki,
    ):
        extra = [
            space.mailbox_table(
                name=f"team{index}", folders=[unique("Q")], page_prefix=f"{unique('Q')}/Mail", port=imap.port
            )
            for index in range(1, MAPPINGS)
        ]
        config = space.write_config(extra, port=imap.port)
        proxied = mediawiki.api_url.replace(f":{mediawiki.port}/", f":{wiki.port}/")
        config.write_text(config.read_text().replace(mediawiki.api_url, proxied))
        settings = space.settings()
        for mailbox in settings.mailboxes:
            mailbox_space = Space(**{**space.__dict__, "folders": list(mailbox.account.folders)})
            mailbox_space.append(make_mail(f"{unique('quiet')}@example.de", f"Quiet start {mailbox.name}"))
        client = WikiClient(settings.wiki)
        install_templates(client, only_missing=True)
        client.close()
        state = SqliteStateStore(settings.state.path)
        sessions = {m.name: MappingSessions(m, settings.wiki) for m in settings.mailboxes}
        yield Mappings(space, settings, state, imap, wiki, sessions)
        for kept in sessions.values():
            kept.close()
        state.close()


def _one_each(found: Sequence[int | None], count: int) -> bool:
    return list(found) == [count] * MAPPINGS


def test_a_quiet_pass_is_one_select_per_mapping_and_no_wiki_request(mappings: Mappings) -> None:
    """With nothing new, the daemon's pass of each mapping is one EXAMINE: no login, search or fetch.

    (EXAMINE is SELECT read-only; its untagged UIDVALIDITY and UIDNEXT tell that nothing is new.)
    """
    assert _one_each(mappings.passes(kept=True), 1)
    mappings.clear()

    assert _one_each(mappings.passes(kept=True), 0)
    assert imap_commands(mappings.imap) == Counter({"EXAMINE": MAPPINGS})
    assert wiki_requests(mappings.wiki) == []

    # `once` logs in anew, but a quiet folder still costs one SELECT and the wiki nothing.
    mappings.clear()
    assert _one_each(mappings.passes(kept=False), 0)
    commands = imap_commands(mappings.imap)
    assert commands["EXAMINE"] == MAPPINGS
    assert commands["LOGIN"] == MAPPINGS
    assert set(commands) <= {"CAPABILITY", "LOGIN", "EXAMINE", "LOGOUT"}, commands
    assert wiki_requests(mappings.wiki) == []


def test_new_mail_on_kept_sessions_costs_no_logins_or_site_facts(mappings: Mappings) -> None:
    """A pass after the first needs no IMAP login and no wiki login, token or site-info request."""
    assert _one_each(mappings.passes(kept=True), 1)
    mappings.space.append(make_mail(f"{unique('new')}@example.de", "Quiet no more"), mappings.folder(0))
    mappings.clear()

    assert mappings.passes(kept=True) == [1] + [0] * (MAPPINGS - 1)
    commands = imap_commands(mappings.imap)
    assert "LOGIN" not in commands
    assert commands["EXAMINE"] == MAPPINGS
    assert commands["FETCH"] >= 1
    requests = wiki_requests(mappings.wiki)
    assert any("action=edit" in request for request in requests)
    for request in requests:
        for needless in ("action=login", "meta=tokens", "meta=userinfo", "meta=siteinfo"):
            assert needless not in request, request.splitlines()[0]


def test_a_kept_session_the_network_dropped_is_replaced_and_the_pass_goes_on(mappings: Mappings) -> None:
    """Kept IMAP sessions reset by the network (fault injected by the proxy) log in again at SELECT."""
    assert _one_each(mappings.passes(kept=True), 1)
    assert mappings.imap.reset_all() == MAPPINGS
    mappings.space.append(make_mail(f"{unique('drop')}@example.de", "After the drop"), mappings.folder(1))
    mappings.clear()

    assert mappings.passes(kept=True) == [0, 1] + [0] * (MAPPINGS - 2)
    assert imap_commands(mappings.imap)["LOGIN"] == MAPPINGS
    for mailbox in mappings.settings.mailboxes:
        status = mappings.state.mailbox_status(mailbox.name)
        assert status.last_error is None, status


def test_sessions_unused_for_longer_than_they_are_kept_log_in_anew(mappings: Mappings) -> None:
    """After `KEEP_SECONDS` without a pass, a mapping's sessions are replaced, not trusted."""
    now = [1000.0]
    mailbox = mappings.settings.mailboxes[0]
    sessions = mappings.sessions[mailbox.name] = MappingSessions(
        mailbox, mappings.settings.wiki, lambda: now[0]
    )
    assert sessions.fits(mailbox, mappings.settings.wiki)
    assert run_pass(mailbox, mappings.settings, mappings.state, sessions=sessions) is not None
    mappings.clear()
    now[0] += KEEP_SECONDS - 1
    assert run_pass(mailbox, mappings.settings, mappings.state, sessions=sessions) is not None
    assert "LOGIN" not in imap_commands(mappings.imap)

    now[0] += KEEP_SECONDS + 1
    assert run_pass(mailbox, mappings.settings, mappings.state, sessions=sessions) is not None
    commands = imap_commands(mappings.imap)
    assert commands["LOGIN"] == 1
    assert commands["LOGOUT"] == 1  # the stale session was closed, not left open
