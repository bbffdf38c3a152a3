"""Attachments in a pass: a file many mails carry (a logo in every signature) is uploaded once."""

from __future__ import annotations

from collections import Counter
from email.message import EmailMessage
from pathlib import Path

from bridge.adapters.state.store import SqliteStateStore
from bridge.sync.mailbox_pass import MailboxSync
from tests.fakes import FakeMailbox, FakeWiki
from tests.mailgen import png_image
from tests.settings import mailbox_settings


class CountingWiki(FakeWiki):
    """The in-memory wiki, counting upload requests by file name."""

    def __init__(self) -> None:
        super().__init__()
        self.upload_requests: Counter[str] = Counter()

    def upload(self, filename: str, data: bytes, comment: str) -> str:
        self.upload_requests[filename] += 1
        return super().upload(filename, data, comment)


def _mail(number: int, attachments: list[tuple[str, bytes]]) -> bytes:
    mail = EmailMessage()
    mail["From"] = f"Person {number} <p{number}@example.de>"
    mail["To"] = "team@example.de"
    mail["Subject"] = f"Topic {number}"
    mail["Date"] = f"Mon, 0{number} Nov 2026 09:00:00 +0000"
    mail["Message-ID"] = f"<topic-{number}@example.de>"
    mail.set_content(f"Text of mail {number}.\n")
    for name, data in attachments:
        mail.add_attachment(data, maintype="image", subtype="png", filename=name)
    return mail.as_bytes()


def test_a_file_that_many_mails_carry_is_uploaded_once_per_pass(tmp_path: Path) -> None:
    """Five threads share a logo: one upload request for it, and every page shows the same file."""
    logo, chart = png_image("logo"), png_image("chart")
    mailbox = FakeMailbox()
    for number in range(1, 6):
        files = [("logo.png", logo)] + ([("chart.png", chart)] if number == 3 else [])
        mailbox.deliver("INBOX", _mail(number, files))
    wiki = CountingWiki()
    state = SqliteStateStore(tmp_path / "state.sqlite3")
    try:
        result = MailboxSync(mailbox_settings(), wiki, state, open_mailbox=lambda _: mailbox).run()
    finally:
        state.close()
    assert result.published == 5
    assert len(wiki.pages) == 5
    assert sum(wiki.upload_requests.values()) == 2, wiki.upload_requests
    assert len(wiki.files) == 2
    logo_name = next(name for name, data in wiki.files.items() if data == logo)
    assert all(logo_name in page.text for page in wiki.pages.values())
