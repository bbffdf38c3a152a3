"""Continuation pages under lost wiki answers: every mail once across the parts, each link once.

The real orchestrator and a real SQLite store run over the in-memory fakes of tests/fakes.py,
because the fault needed here, the wiki creating a part and its answer getting lost at one
chosen write, cannot be produced on demand by the real MediaWiki; tests/integration/
test_long_threads.py covers continuation pages against the real wiki.
"""

from __future__ import annotations

import email.policy
import itertools
from collections import Counter
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from bridge.adapters.state.store import SqliteStateStore
from bridge.core.render.page import continuation_marker, message_marker
from bridge.errors import WikiUnavailableError
from bridge.service.config import MailboxSettings, SmtpSettings
from bridge.sync.mailbox_pass import MailboxSync, PassResult
from bridge.sync.outbox import Outbox
from tests.fakes import FakeMailbox, FakeWiki
from tests.settings import mailbox_settings

PREFIX = "Mail/Team"
MAILS = 24


def _mail(number: int) -> bytes:
    message = EmailMessage()
    message["Return-Path"] = "<anna@example.org>"  # as the MTA delivered it
    message["From"] = "Anna <anna@example.org>"
    message["To"] = "team@example.org"
    message["Subject"] = "Re: Lieferung 4711" if number else "Lieferung 4711"
    message["Date"] = f"Mon, 04 Mar 2024 09:{number:02d}:00 +0100"
    message["Message-ID"] = f"<m{number}@example.org>"
    if number:
        message["In-Reply-To"] = f"<m{number - 1}@example.org>"
    message.set_content(f"Antwort {number}\n" + "Die Lieferung {kommt} später. " * 30)
    return message.as_bytes(policy=email.policy.SMTP)


def _settings() -> MailboxSettings:
    return mailbox_settings(page_prefix=PREFIX, categories=("Team",), language="de")


@pytest.mark.parametrize("lost_write", [2, 3, 4])
def test_a_lost_answer_while_continuing_leaves_every_mail_once_and_each_link_once(
    tmp_path: Path, lost_write: int
) -> None:
    """Write 2 creates part 2, write 3 links part 1 to it, write 4 creates part 3: lose each answer once."""
    mailbox, wiki = FakeMailbox(), FakeWiki({lost_write: "after"})
    wiki.max_article_bytes = 12 * 1024
    state = SqliteStateStore(tmp_path / "state.sqlite3")

    def open_mailbox(_settings: MailboxSettings) -> FakeMailbox:
        return mailbox

    def run() -> PassResult:
        return MailboxSync(_settings(), wiki, state, open_mailbox=open_mailbox).run()

    for number in range(MAILS):
        mailbox.deliver("INBOX", _mail(number))
    with pytest.raises(WikiUnavailableError):
        run()
    run()
    mailbox.deliver("INBOX", _mail(MAILS))  # a later reply
    run()
    state.close()

    pages = {title: text for title, (text, _revision) in wiki.snapshot().items()}
    titles = ["Mail/Team/Lieferung 4711"] + [
        f"Mail/Team/Lieferung 4711 (Teil {n})" for n in range(2, 1 + len(pages))
    ]
    assert sorted(pages) == sorted(titles) and len(pages) >= 3
    counts = Counter(
        number
        for number in range(MAILS + 1)
        for text in pages.values()
        if message_marker(f"m{number}@example.org") in text
    )
    assert counts == Counter(dict.fromkeys(range(MAILS + 1), 1))
    assert message_marker(f"m{MAILS}@example.org") in pages[titles[-1]]
    for before, after in itertools.pairwise(titles):
        assert pages[before].count(continuation_marker(after)) == 1
        assert f"Fortsetzung von [[{before}]]" in pages[after]
        assert len(pages[before].encode()) <= wiki.max_article_bytes


class _RecordingSender:
    """Takes replies as an SMTP server would and keeps them (no fault is needed here)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, message: bytes, recipient: str) -> None:
        self.sent.append(recipient)


def test_reply_first_counts_the_parts_of_a_thread_as_one_conversation(tmp_path: Path) -> None:
    """With `reply = "first"`, a person writing on through part 2 and 3 is told once, not once per part."""
    mailbox, wiki = FakeMailbox(), FakeWiki()
    wiki.max_article_bytes = 12 * 1024
    state = SqliteStateStore(tmp_path / "state.sqlite3")
    settings = mailbox_settings(
        page_prefix=PREFIX, categories=("Team",), language="de", reply="first", address="team@example.org"
    )
    smtp = SmtpSettings(host="smtp.example.org", from_address="wiki@example.org")
    sender = _RecordingSender()
    outbox = Outbox(
        settings.name,
        settings.replies,
        settings.space.language,
        smtp,
        state,
        frozenset({"wiki@example.org", "team@example.org"}),
        lambda title: f"https://wiki.example.org/{title}",
        now=lambda: datetime(2024, 3, 4, 12, 0, tzinfo=UTC),
    )
    for number in range(MAILS):
        mailbox.deliver("INBOX", _mail(number))
        MailboxSync(settings, wiki, state, open_mailbox=lambda _: mailbox, outbox=outbox, sender=sender).run()
    state.close()
    assert len(wiki.snapshot()) >= 3
    assert sender.sent == ["anna@example.org"]
