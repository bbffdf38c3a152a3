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
from email.message import EmailMessage
from pathlib import Path

import pytest

from bridge.adapters.imap import ImapMailbox
from bridge.adapters.state.store import SqliteStateStore
from bridge.core.render.page import continuation_marker, message_marker
from bridge.errors import WikiUnavailableError
from bridge.service.config import MailboxSettings
from bridge.sync.mailbox_pass import MailboxSync, PassResult
from tests.fakes import FakeMailbox, FakeWiki
from tests.settings import mailbox_settings

PREFIX = "Mail/Team"
MAILS = 24


def _mail(number: int) -> bytes:
    message = EmailMessage()
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

    def open_mailbox(_settings: MailboxSettings) -> ImapMailbox:
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
