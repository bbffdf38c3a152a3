"""The real wiki refusing one file or one message fails only that part; the mailbox goes on.

MediaWiki's own filters do the refusing: `$wgSpamRegex` (switched on through a knob file that
LocalSettings reads per request) refuses one message of a thread, and truncated images go
through the real upload code.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest

from bridge.core.render.page import message_marker
from tests.integration.support import Space, WikiReader, new_space, unique
from tests.mailgen import png_image
from tests.servers import DovecotServer, MediaWikiServer


@pytest.fixture
def space(dovecot: DovecotServer, mediawiki: MediaWikiServer, tmp_path: Path) -> Space:
    """A fresh mapping; the spam filter knob is reset after each test by the conftest."""
    space = new_space(dovecot, mediawiki, tmp_path)
    space.write_config()
    return space


def thread_mail(message_id: str, body: str, subject: str, parent: str | None = None) -> EmailMessage:
    mail = EmailMessage()
    mail["Return-Path"] = "<anna@example.de>"
    mail["Delivered-To"] = "team@example.de"
    mail["From"] = "Anna Schmidt <anna@example.de>"
    mail["To"] = "team@example.de"
    mail["Subject"] = f"Re: {subject}" if parent else subject
    mail["Date"] = format_datetime(datetime(2024, 3, 4, 9, 0, tzinfo=UTC))
    mail["Message-ID"] = f"<{message_id}>"
    if parent:
        mail["In-Reply-To"] = f"<{parent}>"
        mail["References"] = f"<{parent}>"
    mail.set_content(body)
    return mail


def test_spam_filter_refusing_one_message_fails_only_that_one(
    space: Space, mediawiki: MediaWikiServer, reader: WikiReader
) -> None:
    """One edit of a thread matches the wiki's spam filter: the others land on the page, it waits."""
    token = unique("spamword")
    subject = unique("Lieferung")
    ids = [f"{unique('m')}@example.de" for _ in range(3)]
    space.append(thread_mail(ids[0], "Hallo Team", subject).as_bytes())
    space.append(thread_mail(ids[1], f"Bitte {token} ansehen", subject, ids[0]).as_bytes())
    space.append(thread_mail(ids[2], "Erledigt", subject, ids[0]).as_bytes())
    mediawiki.set_spam_regex(f"/{re.escape(token)}/")
    once = space.cli("once")
    assert once.returncode == 1, once.stdout + once.stderr[-3000:]  # a failed mail shows in the exit code
    texts = reader.page_texts(space.prefix)
    assert len(texts) == 1, once.stdout + once.stderr[-3000:]
    (text,) = texts.values()
    assert message_marker(ids[0]) in text
    assert message_marker(ids[2]) in text
    assert message_marker(ids[1]) not in text
    listing = space.cli("failures", "list", "--json")
    assert listing.returncode == 0, listing.stderr
    (failure,) = json.loads(listing.stdout)
    assert failure["message_id"] == ids[1]
    assert "spam" in failure["reason"].lower()
    # Once the filter is relaxed, a retry by hand publishes it on the same page.
    mediawiki.set_spam_regex(None)
    assert space.cli("failures", "retry", "sales", ids[1]).returncode == 0
    again = space.cli("once")
    assert again.returncode == 0, again.stderr
    (text,) = reader.page_texts(space.prefix).values()
    assert text.count("data-message-id=") == 3
    assert json.loads(space.cli("failures", "list", "--json").stdout) == []


def test_truncated_images_fail_only_their_file(space: Space, reader: WikiReader) -> None:
    """Cut-off images are uploaded or listed as not uploaded; their mail and the next one publish."""
    image = png_image(unique("cut"), size=64)
    first = thread_mail(f"{unique('img')}@example.de", "Foto anbei", unique("Foto"))
    first.add_attachment(image[: len(image) // 3], maintype="image", subtype="png", filename="foto.png")
    first.add_attachment(
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40,
        maintype="image",
        subtype="jpeg",
        filename="kamera.jpg",
    )
    second = thread_mail(f"{unique('next')}@example.de", "Nächste Mail", unique("Weiter"))
    space.append(first.as_bytes())
    space.append(second.as_bytes())
    once = space.cli("once")
    assert once.returncode == 0, once.stderr
    texts = "\n".join(reader.page_texts(space.prefix).values())
    assert message_marker(str(first["Message-ID"]).strip("<>")) in texts
    assert message_marker(str(second["Message-ID"]).strip("<>")) in texts
    for name in ("foto.png", "kamera.jpg"):
        assert name in texts
