"""The benchmark corpus (bench/corpus.py): reproducible, well-formed, with the promised mix."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.corpus import build_corpus, wrap_parts


def _parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_the_same_seed_gives_byte_identical_mail_and_another_seed_other_mail() -> None:
    first, again, other = build_corpus(3, 120), build_corpus(3, 120), build_corpus(4, 120)
    assert first.mails == again.mails
    assert first.dates == again.dates
    assert first.mails != other.mails


def test_a_third_is_html_a_tenth_has_attachments_and_every_mail_parses_cleanly() -> None:
    corpus = build_corpus(11, 400)
    assert len(corpus.mails) == 400
    assert 0.28 < corpus.html_mails / 400 < 0.39
    assert 0.06 < corpus.attachment_mails / 400 < 0.14
    html = attachments = 0
    for raw in corpus.mails:
        message = _parsed(raw)
        assert not message.defects
        assert message["Message-ID"]
        html += any(part.get_content_type() == "text/html" for part in message.walk())
        attachments += any(part.get_content_disposition() == "attachment" for part in message.walk())
    assert (html, attachments) == (corpus.html_mails, corpus.attachment_mails)


def test_mails_come_in_threads_with_some_long_ones() -> None:
    corpus = build_corpus(5, 1000)
    assert corpus.threads < 1000 / 3
    assert corpus.long_threads >= 1


@settings(max_examples=30, deadline=None)
@given(body=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=200))
def test_wrapping_keeps_the_headers_as_written_and_the_body_as_the_first_part(body: str) -> None:
    mail = EmailMessage()
    mail["Subject"] = "Grüße aus Köln"
    mail["Message-ID"] = "<a@b>"
    mail.set_content(body or "x")
    raw = mail.as_bytes(policy=email.policy.SMTP)
    wrapped = _parsed(wrap_parts(raw, "mixed", [b"Content-Type: text/csv\r\n\r\na;b\r\n"]))
    assert wrapped.get_content_type() == "multipart/mixed"
    assert wrapped["Subject"] == "Grüße aus Köln"
    first, second = list(wrapped.iter_parts())
    assert first.get_content().rstrip("\n") == (body or "x").rstrip("\n")
    assert second.get_content_type() == "text/csv"
