"""Link replies at most once and none forgotten, under lost wiki answers, SMTP faults and crashes.

The real `MailboxSync`, `Outbox` and SQLite state store run against the in-memory IMAP account
and wiki of tests/fakes.py (the same paths run against Dovecot, MediaWiki and aiosmtpd in
tests/integration/test_reply_faults.py). The SMTP side is the fake sender, scripted to do what
a real server cannot be told to do on cue: take a mail and then lose the connection before its
250, or have the bridge process die in the middle of the dialogue.
"""

from __future__ import annotations

import email.policy
import email.utils
import itertools
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.adapters.state.store import SqliteStateStore
from bridge.errors import WikiUnavailableError
from bridge.service.config import SmtpSettings
from bridge.sync.mailbox_pass import MailboxSync
from bridge.sync.outbox import Outbox
from tests.fakes import Crash, FakeMailbox, FakeSender, FakeWiki, FaultMode, SendFault
from tests.settings import mailbox_settings

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
MAX_PASSES = 12


def _mail(index: int) -> bytes:
    mail = email.message.EmailMessage()
    mail["Return-Path"] = f"<p{index}@example.org>"
    mail["From"] = f"Person {index} <p{index}@example.org>"
    mail["To"] = "team@example.org"
    mail["Subject"] = f"Frage {index}"
    mail["Date"] = email.utils.format_datetime(NOW - timedelta(minutes=30 - index))
    mail["Message-ID"] = f"<m{index}@example.org>"
    mail.set_content("Hallo Team,\nbitte prüfen.\n")
    return mail.as_bytes(policy=email.policy.SMTP)


@dataclass
class Bridge:
    """One mapping with link replies on, its fakes and its state, for a sequence of passes."""

    path: Path
    state: SqliteStateStore
    wiki: FakeWiki
    smtp: FakeSender
    mailbox: FakeMailbox = field(default_factory=FakeMailbox)

    def run_pass(self) -> None:
        """Run one pass as the daemon does; a lost wiki answer or a crash ends it early."""
        settings = mailbox_settings(
            batch_size=3,
            address="team@example.org",
            reply="every",
        )
        smtp = SmtpSettings(
            host="smtp.example.org", from_address="wiki@example.org", max_replies_per_sender_per_hour=100
        )
        outbox = Outbox(
            settings.name,
            settings.replies,
            settings.space.language,
            smtp,
            self.state,
            frozenset({"wiki@example.org", "team@example.org"}),
            lambda title: f"https://wiki.example.org/{title}",
            now=lambda: NOW,
        )
        sync = MailboxSync(
            settings,
            self.wiki,
            self.state,
            open_mailbox=lambda _: self.mailbox,
            outbox=outbox,
            sender=self.smtp,
        )
        with suppress(WikiUnavailableError, Crash):
            sync.run()

    def statuses(self) -> dict[str, str]:
        """The link reply rows by message: what the state store says happened to each reply."""
        with closing(sqlite3.connect(self.path)) as db:
            rows = db.execute("SELECT message_id, status FROM replies WHERE kind = 'link'").fetchall()
        return {str(message_id): str(status) for message_id, status in rows}


@contextmanager
def bridge(wiki_faults: dict[int, FaultMode], smtp_faults: dict[int, SendFault]) -> Iterator[Bridge]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "state.sqlite3"
        with closing(SqliteStateStore(path)) as state:
            yield Bridge(path, state, FakeWiki(faults=wiki_faults), FakeSender(dict(smtp_faults)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(1, 7),
    wiki_faults=st.dictionaries(st.integers(0, 8), st.sampled_from(["before", "after"]), max_size=4),
    smtp_faults=st.dictionaries(
        st.integers(0, 10),
        st.sampled_from(["refused", "lost_before_data", "lost_after_data", "crash_after_data"]),
        max_size=5,
    ),
    arrivals=st.lists(st.integers(1, 3), min_size=1, max_size=4),
)
def test_every_published_mail_gets_its_reply_at_most_once(
    count: int,
    wiki_faults: dict[int, FaultMode],
    smtp_faults: dict[int, SendFault],
    arrivals: list[int],
) -> None:
    """Property: whatever wiki answers are lost and whatever the SMTP server or a crash does,
    each person gets the reply to their mail at most once; every reply is sent unless its
    sending went uncertain (the server may have it); and no published mail is left without a
    reply row, also when only recovery saw its edit confirmed."""
    with bridge(wiki_faults, smtp_faults) as opened:
        waiting, sizes = list(range(count)), itertools.cycle(arrivals)
        while waiting:
            size = next(sizes)
            arriving, waiting = waiting[:size], waiting[size:]
            for index in arriving:
                opened.mailbox.deliver("INBOX", _mail(index))
            opened.run_pass()
        for _ in range(MAX_PASSES):
            opened.run_pass()
        ids = [f"m{index}@example.org" for index in range(count)]
        statuses = opened.statuses()
        assert sorted(statuses) == sorted(ids), "a published mail has no reply row"
        copies = Counter(str(message_from_bytes(data)["In-Reply-To"]) for _, data in opened.smtp.delivered)
        for message_id in ids:
            expected = {0, 1} if statuses[message_id] == "uncertain" else {1}
            assert copies[f"<{message_id}>"] in expected, (message_id, statuses[message_id], copies)
            assert statuses[message_id] in {"sent", "uncertain"}, statuses
