"""Same Message-ID, other content, against the real Dovecot and MediaWiki.

A resent draft reuses its Message-ID with a changed text: it gets a section of its own with a
note. The copy of the first mail in another folder (as a client's Sent folder holds it, with
other transport headers) and a second delivery of the same bytes stay skipped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from bridge.core.render.page import message_marker
from tests.integration.support import Space, WikiReader, new_space, unique
from tests.servers import DovecotServer, MediaWikiServer


def draft(message_id: str, subject: str, body: str, *, delivered: bool) -> bytes:
    """The mail as it lands in INBOX (with the MTA's headers) or as the Sent folder keeps it."""
    mail = EmailMessage()
    if delivered:
        mail["Return-Path"] = "<anna@example.de>"
        mail["Delivered-To"] = "team@example.de"
        mail["Received"] = "from mail.example.de by imap.example.de; Mon, 4 Mar 2024 09:00:01 +0100"
    mail["From"] = "Anna Schmidt <anna@example.de>"
    mail["To"] = "team@example.de"
    mail["Subject"] = subject
    mail["Date"] = format_datetime(datetime(2024, 3, 4, 8, 0, tzinfo=UTC))
    mail["Message-ID"] = f"<{message_id}>"
    mail.set_content(body)
    return mail.as_bytes()


def test_other_content_is_a_variant_and_copies_stay_skipped(
    dovecot: DovecotServer, mediawiki: MediaWikiServer, tmp_path: Path, reader: WikiReader
) -> None:
    space: Space = new_space(dovecot, mediawiki, tmp_path)
    inbox = space.folders[0]
    sent = f"{inbox}-sent"
    space.folders.append(sent)
    space.write_config()
    message_id = f"{unique('draft')}@example.de"
    subject = unique("Angebot Förderband")
    first = draft(message_id, subject, "Preis: 12.000 EUR\n", delivered=True)
    space.append(first, inbox)
    space.append(draft(message_id, subject, "Preis: 12.000 EUR\n", delivered=False), sent)
    once = space.cli("once")
    assert once.returncode == 0, once.stderr[-2000:]
    assert "1 published, 1 already known" in once.stdout  # the Sent copy: other bytes, same content
    space.append(first, inbox)  # a second delivery of the same bytes
    space.append(draft(message_id, subject, "Preis: 11.500 EUR (korrigiert)\n", delivered=True), inbox)
    once = space.cli("once")
    assert once.returncode == 0, once.stderr[-2000:]
    assert "1 published, 1 already known" in once.stdout
    (text,) = reader.page_texts(space.prefix).values()
    assert text.count("data-message-id=") == 2
    assert message_marker(message_id) in text
    assert "11.500 EUR" in text
    assert "ewb-variant-note" in text
    assert text.count("12.000 EUR") == 1
    # Nothing new on a further pass, and the rendered note links to the earlier section.
    assert "0 published" in space.cli("once").stdout
    page = reader.parse(next(iter(reader.page_texts(space.prefix))))
    assert "same Message-ID" in page.html
