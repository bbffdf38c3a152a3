"""Crashes and network faults, all in one seeded run: the bridge as a real `once` subprocess,
SIGKILLed at seeded moments or running behind fault proxies (tests/faultproxy.py) that lose
wiki answers after MediaWiki saved the edit, cut IMAP connections half-way and lose the SMTP
server's answer to DATA, while mail keeps arriving and a person edits the thread pages.

The proxies inject faults the real servers cannot produce themselves; the servers are real.
After a final clean pass: every mail is on the wiki exactly once, every human edit is still
there, nobody got the same link reply twice, and no reply was forgotten (a reply is either sent
or, after a crash in the middle of the SMTP dialogue, recorded as uncertain).

A failure names the seed (SEED) and the run schedule printed with ``-s``; the same seed gives
the same mail, the same schedule and the same fault draws.
"""

from __future__ import annotations

import dataclasses
import imaplib
import itertools
import random
import signal
import smtplib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.faultproxy import FaultProxy, Faults, Moment
from tests.integration.service_support import (
    BridgeProcess,
    ServiceSpace,
    lost_notes,
    marker_counts,
    message_statuses,
    multiappend,
    page_texts,
    sent_replies,
    state_rows,
)
from tests.integration.support import WikiReader, unique
from tests.mailgen import PEOPLE, TEAM_ADDRESS, GeneratedMailbox, generate_mailbox
from tests.servers import LOOPBACK, DovecotServer, MediaWikiServer, SmtpSink, wiki_login

SEED = 20261130
MAILS = 300
RUNS = 48
"""Passes under faults or kills before the final clean passes; mail arrives before each of the
first three quarters of them, so later passes append to pages made by earlier ones."""
HUMAN_EDIT_RATE = 0.35

WIKI_FAULTS = Faults(lose=0.2)
"""A fifth of the wiki's answers are lost after MediaWiki carried out the request (saved the edit)."""
IMAP_FAULTS = Faults(cut=0.3, cut_within=20_000)
"""IMAP sessions are cut within their first 20 KB: at login, between batches, inside a body."""
SMTP_FAULTS = Faults(lose=0.5, request_end=b"\r\n.\r\n")
"""Half the SMTP sessions drop once the server has a whole reply (the answer to DATA is lost);
a session carries many replies, so a higher rate than the wiki's keeps this case frequent."""
NO_FAULTS = Faults()
KILL_WITHIN = {"wiki": 25, "imap": 8, "smtp": 30}
"""A kill falls on a request or answer drawn from the first this many of a pass, per proxy."""


@dataclass
class Proxies:
    """One fault proxy in front of each real server."""

    wiki: FaultProxy
    imap: FaultProxy
    smtp: FaultProxy

    def disarm(self) -> bool:
        """Remove unfired tripwires; return whether one was still armed."""
        return any([self.wiki.disarm(), self.imap.disarm(), self.smtp.disarm()])


@dataclass
class Human:
    """A person (Alice) appending notes to thread pages through the real wiki, not the proxy."""

    mediawiki: MediaWikiServer
    session: requests.Session
    notes: dict[str, list[str]] = field(default_factory=dict)

    def append(self, title: str, text: str, api_url: str | None = None) -> dict[str, Any]:
        """Append `text` to `title` (created when missing) through `api_url` (default: the wiki's)."""
        token = self.session.get(
            self.mediawiki.api_url,
            params={"action": "query", "meta": "tokens", "format": "json"},
            timeout=30,
        ).json()["query"]["tokens"]["csrftoken"]
        answer: dict[str, Any] = self.session.post(
            api_url or self.mediawiki.api_url,
            data={"action": "edit", "title": title, "appendtext": text, "token": token, "format": "json"},
            timeout=30,
        ).json()
        return answer

    def append_note(self, title: str) -> None:
        """Append a uniquely numbered note to `title` and remember it."""
        note = f"Human note {sum(map(len, self.notes.values())) + 1}: Alice checked this thread."
        answer = self.append(title, f"\n\n{note}\n")
        assert answer.get("edit", {}).get("result") == "Success", answer
        self.notes.setdefault(title, []).append(note)


@dataclass
class Outcome:
    """What the runs under faults did."""

    schedule: list[str] = field(default_factory=list)
    exit_codes: Counter[int] = field(default_factory=Counter)
    kills: int = 0


@pytest.fixture
def proxies(dovecot: DovecotServer, mediawiki: MediaWikiServer, smtp_sink: SmtpSink) -> Iterator[Proxies]:
    """Seeded fault proxies in front of the session's MediaWiki, Dovecot and SMTP sink."""
    with (
        FaultProxy(LOOPBACK, mediawiki.port, seed=SEED + 1) as wiki,
        FaultProxy(dovecot.host, dovecot.port, seed=SEED + 2) as imap,
        FaultProxy(smtp_sink.host, smtp_sink.port, seed=SEED + 3) as smtp,
    ):
        yield Proxies(wiki=wiki, imap=imap, smtp=smtp)


@pytest.fixture
def human(mediawiki: MediaWikiServer) -> Human:
    """Alice, logged in to the real wiki."""
    return Human(mediawiki, wiki_login(mediawiki, mediawiki.human_user, mediawiki.human_password))


@pytest.fixture
def service(
    dovecot: DovecotServer, mediawiki: MediaWikiServer, proxies: Proxies, tmp_path: Path
) -> Iterator[ServiceSpace]:
    """A config whose wiki, IMAP and SMTP addresses are the proxies; processes die with the test."""
    # The bridge sees the wiki only through the proxy: the config writer takes its api_url from
    # this view of the server, whose port is the proxy's.
    through_proxy = dataclasses.replace(mediawiki, port=proxies.wiki.port)
    space = ServiceSpace(dovecot=dovecot, mediawiki=through_proxy, directory=tmp_path)
    yield space
    space.close()


def _with_return_path(mailbox: GeneratedMailbox) -> list[bytes]:
    """The mails as delivered: the final MTA prepends Return-Path (without it no reply is sent)."""
    delivered = []
    for raw, spec in zip(mailbox.mails, mailbox.specs, strict=True):
        delivered.append(f"Return-Path: <{spec.sender.address}>\r\n".encode() + raw)
    return delivered


@dataclass(frozen=True)
class Trouble:
    """What goes wrong during one run: fault rates per proxy, and maybe a SIGKILL at the
    `kill_after`-th request or answer passing through the `kill_at` proxy."""

    name: str
    wiki: Faults = NO_FAULTS
    imap: Faults = NO_FAULTS
    smtp: Faults = NO_FAULTS
    kill_at: str = ""
    moment: Moment = Moment.ANSWER
    kill_after: int = 0


def _trouble(rng: random.Random) -> Trouble:
    """Pick the next run's trouble from the seeded schedule."""
    kind = rng.choice(["faults", "mail faults", "kill wiki", "kill wiki", "kill imap", "kill smtp"])
    if kind == "faults":
        return Trouble(kind, wiki=WIKI_FAULTS, imap=IMAP_FAULTS, smtp=SMTP_FAULTS)
    if kind == "mail faults":  # the wiki works, so passes get as far as sending replies
        return Trouble(kind, imap=IMAP_FAULTS, smtp=SMTP_FAULTS)
    proxy = kind.removeprefix("kill ")
    # Before the request reaches the wiki, or after the wiki acted and before the bridge knows.
    moment = rng.choice([Moment.REQUEST, Moment.ANSWER]) if proxy == "wiki" else Moment.ANSWER
    after = rng.randint(1, KILL_WITHIN[proxy])
    return Trouble(f"{kind} {moment.value} #{after}", kill_at=proxy, moment=moment, kill_after=after)


def _run(service: ServiceSpace, proxies: Proxies, trouble: Trouble) -> int:
    """One `once` pass under `trouble`; returns its exit code."""
    proxies.wiki.set_faults(trouble.wiki)
    proxies.imap.set_faults(trouble.imap)
    proxies.smtp.set_faults(trouble.smtp)
    victim: list[BridgeProcess] = []
    if trouble.kill_at:
        # The tripwire fires from a proxy thread; the child needs far longer to import than
        # Popen takes to return, so `victim` is filled before the first connection.
        proxy = getattr(proxies, trouble.kill_at)
        proxy.trip(trouble.kill_after, trouble.moment, lambda: victim[0].send(signal.SIGKILL))
    process = service.start("once")
    victim.append(process)
    code = process.wait(180)
    fired = bool(trouble.kill_at) and not proxies.disarm()
    assert not any("Traceback" in line for line in process.raw_stderr), process.log_tail(60)
    # Killed exactly when its tripwire fired; otherwise done (0) or stopped by a fault (1).
    assert code == -signal.SIGKILL if fired else code in (0, 1), process.log_tail()
    return code


def _waves(rng: random.Random, mails: list[bytes]) -> list[list[bytes]]:
    """Split the mail into arrivals before each of the first three quarters of the runs."""
    arriving = RUNS * 3 // 4
    cuts = sorted(rng.randrange(len(mails)) for _ in range(arriving - 1))
    bounds = [0, *cuts, len(mails)]
    return [mails[a:b] for a, b in itertools.pairwise(bounds)] + [[]] * (RUNS - arriving)


def _chaos(
    service: ServiceSpace, proxies: Proxies, human: Human, mails: list[bytes], folder: str, prefix: str
) -> Outcome:
    """Deliver the mail in waves and run passes under seeded faults and kills."""
    rng = random.Random(SEED)  # noqa: S311 - a reproducible schedule, not secrets
    reader = WikiReader(human.mediawiki)
    outcome = Outcome()
    for run, wave in enumerate(_waves(rng, mails)):
        if wave:
            multiappend(service.dovecot, "team-sales", folder, wave)
        titles = reader.titles(prefix)
        if titles and rng.random() < HUMAN_EDIT_RATE:
            human.append_note(rng.choice(titles))
        trouble = _trouble(rng)
        started = time.monotonic()
        code = _run(service, proxies, trouble)
        outcome.kills += code == -signal.SIGKILL
        outcome.exit_codes[code] += 1
        outcome.schedule.append(
            f"run {run}: {len(wave)} new, {trouble.name} -> exit {code} ({time.monotonic() - started:.1f} s)"
        )
    proxies.wiki.set_faults(NO_FAULTS)
    proxies.imap.set_faults(NO_FAULTS)
    proxies.smtp.set_faults(NO_FAULTS)
    print("\n".join(outcome.schedule))
    return outcome


def test_sigkills_lost_answers_and_cut_connections_publish_every_mail_once_and_keep_human_edits(
    service: ServiceSpace,
    proxies: Proxies,
    mediawiki: MediaWikiServer,
    smtp_sink: SmtpSink,
    human: Human,
    record_property: Callable[[str, object], None],
) -> None:
    """Seeded kills and faults over many passes, then clean passes: exactly once everywhere."""
    generated = generate_mailbox(seed=SEED, messages=MAILS)
    name = unique("Chaos")
    folder, prefix = f"{name}-in", f"{name}/Mail"
    mailbox: dict[str, Any] = service.mailbox(
        "chaos",
        folder,
        prefix,
        host=proxies.imap.host,
        port=proxies.imap.port,
        address=TEAM_ADDRESS,
        reply="every",
        reply_max_age_days=3650,
        batch_size=20,
        # Everyone in the generated mailbox is a colleague, so every one of them is due a link reply.
        internal_domains=sorted({person.address.rpartition("@")[2] for person in PEOPLE}),
    )
    smtp = {
        "host": proxies.smtp.host,
        "port": proxies.smtp.port,
        "security": "none",
        "from_address": "wiki-bridge@example.de",
        "max_replies_per_sender_per_hour": 1000,
    }
    service.write_config([mailbox], smtp=smtp)

    outcome = _chaos(service, proxies, human, _with_return_path(generated), folder, prefix)

    final = service.cli("once")
    assert final.returncode == 0, final.stderr[-3000:]
    again = service.cli("once")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "chaos: 0 published" in again.stdout, again.stdout
    summary = (
        f"{outcome.kills} kills, {sum(map(len, human.notes.values()))} human notes, "
        f"exit codes {dict(outcome.exit_codes)}, wiki {proxies.wiki.stats}, "
        f"imap {proxies.imap.stats}, smtp {proxies.smtp.stats}"
    )
    record_property("chaos", summary)
    print(summary)
    # Every mail on the wiki exactly once, and every person's note still there.
    texts = page_texts(mediawiki, prefix)
    counts = marker_counts(texts.values())
    assert sorted(mid for mid, count in counts.items() if count != 1) == []
    assert set(counts) == set(generated.message_ids)
    assert message_statuses(service.state_path) == {"done": MAILS}
    assert human.notes, "no human edit happened"
    assert lost_notes(human.notes, texts) == []

    # Link replies: at most one per person and message, and none forgotten.
    sent = sent_replies(smtp_sink)
    assert [key for key, count in sent.items() if count > 1] == []
    expected = {
        (spec.sender.address.lower(), spec.normalized_id)
        for spec in generated.specs
        if spec.sender.address != TEAM_ADDRESS
    }
    rows = state_rows(
        service.state_path,
        "SELECT recipient, message_id, status FROM replies WHERE mailbox = 'chaos' AND kind = 'link'",
    )
    statuses = {(recipient, message_id): status for recipient, message_id, status in rows}
    assert set(sent) <= expected
    assert sorted(expected - set(statuses)) == [], "replies never planned"
    outcomes = Counter(status for key, status in statuses.items() if key in expected)
    assert outcomes.keys() <= {"sent", "uncertain"}, outcomes
    # A reply is sent, or was cut short by a kill in the SMTP dialogue: then it may have arrived.
    assert {key for key, status in statuses.items() if status == "sent"} <= set(sent)
    assert set(sent) <= {key for key, status in statuses.items() if status in ("sent", "uncertain")}

    # The faults really happened (else this test would prove nothing).
    assert outcome.kills >= 10, outcome.schedule
    assert proxies.wiki.stats.lost >= 5 and proxies.imap.stats.cut >= 1, summary
    assert proxies.smtp.stats.lost >= 1, summary


# -- the proxy itself, against the real servers ----------------------------------------------


def test_fault_proxy_loses_the_wiki_answer_after_the_edit_was_saved(
    proxies: Proxies, human: Human, reader: WikiReader
) -> None:
    """Lose mode over HTTP: the client gets a reset, and the wiki saved the edit all the same."""
    title = f"{unique('Proxy')}/Lost answer"
    proxies.wiki.set_faults(Faults(lose=1.0))
    with pytest.raises(requests.ConnectionError):
        human.append(title, "Saved, but nobody heard.", f"http://{LOOPBACK}:{proxies.wiki.port}/api.php")
    assert reader.text(title) == "Saved, but nobody heard."
    assert proxies.wiki.stats.lost == 1


def test_fault_proxy_cuts_an_imap_session_part_way(dovecot: DovecotServer, proxies: Proxies) -> None:
    """Cut mode over IMAP: the session breaks at a seeded byte; the next connection works."""
    from imapclient import IMAPClient  # type: ignore[import-untyped, unused-ignore]

    proxies.imap.set_faults(Faults(cut=1.0, cut_within=600))
    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        client = IMAPClient(proxies.imap.host, port=proxies.imap.port, ssl=False, timeout=10)
        client.login("team-sales", dovecot.users["team-sales"])
        for _ in range(100):
            client.noop()
    assert proxies.imap.stats.cut == 1
    proxies.imap.set_faults(NO_FAULTS)
    client = IMAPClient(proxies.imap.host, port=proxies.imap.port, ssl=False, timeout=10)
    client.login("team-sales", dovecot.users["team-sales"])
    client.logout()


def test_fault_proxy_loses_the_answer_to_data_after_the_server_took_the_mail(
    proxies: Proxies, smtp_sink: SmtpSink
) -> None:
    """Lose mode over SMTP with `request_end`: the client loses the connection after DATA, the
    server has the mail."""
    proxies.smtp.set_faults(dataclasses.replace(SMTP_FAULTS, lose=1.0))
    client = smtplib.SMTP(proxies.smtp.host, proxies.smtp.port, timeout=10)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.sendmail("wiki-bridge@example.de", ["anna@example.de"], b"Subject: Hello\r\n\r\nHi\r\n")
    client.close()
    assert [mail.rcpt_tos for mail in smtp_sink.messages] == [("anna@example.de",)]
    assert proxies.smtp.stats.lost == 1
