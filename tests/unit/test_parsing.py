"""`parse_message` on raw RFC 5322 bytes built in each test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bridge.core.msgid import SYNTHETIC_DOMAIN
from bridge.core.parsing import parse_message
from bridge.errors import MessageError


def _mail(headers: list[str], body: bytes, *, newline: bytes = b"\r\n") -> bytes:
    head = newline.join(line.encode("ascii") for line in headers)
    return head + newline + newline + body


def test_rfc2047_subject_and_sender_name_are_decoded() -> None:
    """Encoded-word subject (ISO-8859-1, Q) and sender name (UTF-8, B) become German text."""
    raw = _mail(
        [
            "From: =?utf-8?b?SsO8cmdlbiBNw7xsbGVy?= <juergen@example.org>",
            "To: team@example.org",
            "Subject: =?iso-8859-1?q?=C4nderung_der_Gr=F6=DFe?=",
            "Date: Tue, 02 Jan 2024 10:00:00 +0100",
            "Message-ID: <m1@example.org>",
        ],
        b"Hallo\r\n",
    )
    message = parse_message(raw)
    assert message.subject == "Änderung der Größe"
    assert message.sender_name == "Jürgen Müller"
    assert message.sender_address == "juergen@example.org"


def test_latin1_quoted_printable_body_is_decoded() -> None:
    """A quoted-printable ISO-8859-1 body with a soft line break becomes Unicode text."""
    raw = _mail(
        [
            "From: a@example.org",
            "Subject: qp",
            "Message-ID: <qp@example.org>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=iso-8859-1",
            "Content-Transfer-Encoding: quoted-printable",
        ],
        b"Gr=FC=DFe aus K=F6ln, sch=F6n=\nes Wetter.\n",
        newline=b"\n",
    )
    assert parse_message(raw).body_text == "Grüße aus Köln, schönes Wetter."


def test_crlf_mail_gives_same_body_as_lf_mail() -> None:
    """A mail with CRLF line ends (as IMAP delivers it) gives the same body text as its LF form."""
    headers = ["From: a@example.org", "Subject: crlf", "Message-ID: <crlf@example.org>"]
    lf = parse_message(_mail(headers, b"line one\nline two\n\n", newline=b"\n"))
    crlf = parse_message(_mail(headers, b"line one\r\nline two\r\n\r\n"))
    assert lf.body_text == "line one\nline two"
    assert crlf.body_text.replace("\r\n", "\n") == lf.body_text


def test_html_only_body_becomes_text_without_script_and_style() -> None:
    """An HTML-only mail yields its visible text; script, style and title content is dropped."""
    html = (
        b"<html><head><title>Secret title</title><style>.x { color: red }</style></head>"
        b"<body><p>Hello &amp; welcome</p><script>alert('pwned')</script>"
        b"<div>Second<br>line</div></body></html>"
    )
    raw = _mail(
        [
            "From: a@example.org",
            "Subject: html",
            "Message-ID: <html@example.org>",
            "MIME-Version: 1.0",
            "Content-Type: text/html; charset=utf-8",
        ],
        html,
    )
    body = parse_message(raw).body_text
    assert body == "Hello & welcome\nSecond\nline"
    for hidden in ("alert", "pwned", "color", "Secret title", "<", ">"):
        assert hidden not in body


def test_multipart_alternative_prefers_plain_text() -> None:
    """With both text/plain and text/html parts, the plain part is the body."""
    raw = _mail(
        [
            "From: a@example.org",
            "Subject: alt",
            "Message-ID: <alt@example.org>",
            "MIME-Version: 1.0",
            'Content-Type: multipart/alternative; boundary="BOUND"',
        ],
        b"--BOUND\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain version\r\n"
        b"--BOUND\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html version</p>\r\n"
        b"--BOUND--\r\n",
    )
    body = parse_message(raw).body_text
    assert "plain version" in body
    assert "html version" not in body


def test_missing_message_id_is_synthesized_stably() -> None:
    """Without Message-ID the id is synthesized, flagged as not own, and equal on a re-parse."""
    raw = _mail(
        ["From: a@example.org", "Subject: no id", "Date: Tue, 02 Jan 2024 10:00:00 +0000"], b"text\r\n"
    )
    first, second = parse_message(raw), parse_message(raw)
    assert first.has_own_id is False
    assert first.message_id.endswith("@" + SYNTHETIC_DOMAIN)
    assert first.message_id == second.message_id


def test_synthesized_id_differs_for_different_bodies() -> None:
    """Two id-less mails with equal headers but different bodies get different ids."""
    headers = ["From: a@example.org", "Subject: no id"]
    assert parse_message(_mail(headers, b"one\r\n")).message_id != (
        parse_message(_mail(headers, b"two\r\n")).message_id
    )


def test_own_message_id_is_normalized() -> None:
    """A present Message-ID is used in normalized form and flagged as the mail's own."""
    raw = _mail(["From: a@example.org", "Subject: s", "Message-ID: <Local.Part@EXAMPLE.Org>"], b"x\r\n")
    message = parse_message(raw)
    assert message.message_id == "Local.Part@example.org"
    assert message.has_own_id is True


def test_in_reply_to_is_last_even_when_references_list_it_earlier() -> None:
    """In-Reply-To is moved to the end of references although References lists it in the middle."""
    raw = _mail(
        [
            "From: a@example.org",
            "Subject: Re: s",
            "Message-ID: <child@example.org>",
            "References: <root@example.org> <parent@example.org>",
            " <sibling@example.org>",
            "In-Reply-To: <parent@EXAMPLE.org>",
        ],
        b"x\r\n",
    )
    message = parse_message(raw)
    assert message.references == ("root@example.org", "sibling@example.org", "parent@example.org")
    assert message.references[-1] == "parent@example.org"


def test_in_reply_to_alone_gives_parent() -> None:
    """A mail with only In-Reply-To has that id as its only reference."""
    raw = _mail(
        ["From: a@example.org", "Subject: Re: s", "Message-ID: <c@x.org>", "In-Reply-To: <p@x.org>"], b"x\r\n"
    )
    assert parse_message(raw).references == ("p@x.org",)


def test_own_id_is_removed_from_references() -> None:
    """A References header that lists the mail's own id does not make it its own ancestor."""
    raw = _mail(
        [
            "From: a@example.org",
            "Subject: s",
            "Message-ID: <self@example.org>",
            "References: <root@example.org> <SELF@example.org> <self@EXAMPLE.ORG>",
            "In-Reply-To: <self@example.org>",
        ],
        b"x\r\n",
    )
    message = parse_message(raw)
    assert message.references == ("root@example.org", "SELF@example.org")
    assert "self@example.org" not in message.references


def test_date_header_is_parsed_with_its_offset() -> None:
    """A valid Date header gives an aware datetime with the header's UTC offset."""
    raw = _mail(["From: a@example.org", "Subject: s", "Date: Tue, 02 Jan 2024 10:00:00 +0100"], b"x\r\n")
    date = parse_message(raw).date
    assert date == datetime(2024, 1, 2, 9, 0, tzinfo=UTC)
    assert date.utcoffset() == timedelta(hours=1)


def test_missing_date_uses_fallback() -> None:
    """Without a Date header, the given fallback (IMAP INTERNALDATE) is the message date."""
    fallback = datetime(2023, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    raw = _mail(["From: a@example.org", "Subject: s", "Message-ID: <d@x.org>"], b"x\r\n")
    assert parse_message(raw, fallback_date=fallback).date == fallback


def test_unreadable_date_uses_fallback() -> None:
    """A Date header that cannot be parsed also falls back to the given datetime."""
    fallback = datetime(2023, 5, 6, 7, 8, 9, tzinfo=UTC)
    raw = _mail(["From: a@example.org", "Subject: s", "Date: next tuesday-ish"], b"x\r\n")
    assert parse_message(raw, fallback_date=fallback).date == fallback


def test_missing_date_without_fallback_is_aware() -> None:
    """Without Date and fallback the date is still timezone-aware (comparable with others)."""
    raw = _mail(["From: a@example.org", "Subject: s"], b"x\r\n")
    assert parse_message(raw).date.tzinfo is not None


@pytest.mark.parametrize("raw", [b"", b"   ", b"\r\n\r\n"])
def test_empty_mail_raises_message_error(raw: bytes) -> None:
    """Empty (or blank-only) bytes raise MessageError instead of producing a message."""
    with pytest.raises(MessageError):
        parse_message(raw)


def test_missing_subject_and_sender_give_empty_strings() -> None:
    """A mail without Subject and From parses with empty subject and sender fields."""
    message = parse_message(_mail(["Message-ID: <bare@x.org>"], b"just a body\n", newline=b"\n"))
    assert message.subject == ""
    assert message.sender_name == ""
    assert message.sender_address == ""
    assert message.body_text == "just a body"
