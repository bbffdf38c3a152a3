"""Hostile mail through parse and render: nothing but a reasoned `MessageError` may escape.

The property tests draw whole classes of broken mail from `tests.hostile`; the examples below
them pin down each cause that once stopped a real mailbox.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings

from bridge.core.attachments import all_attachments, wiki_file_name
from bridge.core.markers import read_markers
from bridge.core.model import Message
from bridge.core.msgid import SYNTHETIC_DOMAIN, extract_ids
from bridge.core.parsing import parse_message
from bridge.core.render.html import WikitextWriter
from bridge.core.render.page import FileRef, RenderOptions, marked_id, message_marker, render_message
from bridge.core.render.pandoc import html_to_blocks
from bridge.errors import MessageError
from tests.hostile import hostile_html, hostile_mail

INTERNALDATE = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
_BOUNDED = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def _assert_reasoned(error: MessageError) -> None:
    """A reason is a sentence saying what is wrong, not an exception's class name."""
    text = str(error)
    assert len(text.split()) >= 4, text
    assert not re.search(r"(^|:\s*)[A-Z]\w*(Error|Exception)\.?$", text), text


def _files(message: Message) -> dict[str, FileRef]:
    """Every other attachment uploaded, the rest refused with a reason, as sync would pass them."""
    return {
        att.sha256: FileRef(f"File:{wiki_file_name(att)}") if index % 2 else FileRef(None, "refused {{x}}")
        for index, att in enumerate(all_attachments(message))
    }


def _render(message: Message) -> str:
    return render_message(message, RenderOptions("Team", language="de"), _files(message))


@_BOUNDED
@given(hostile_mail())
def test_hostile_mail_is_rendered_or_refused_with_a_reason(raw: bytes) -> None:
    """Parse then render: a page section carrying the message's marker, or a reasoned refusal."""
    try:
        message = parse_message(raw, INTERNALDATE)
        text = _render(message)
    except MessageError as error:
        _assert_reasoned(error)
        return
    assert isinstance(text, str)
    # The marker spells the id as written; read back, it is the id the store knows.
    assert message_marker(marked_id(message)) in text
    assert message.message_id in read_markers(text).message_ids
    # Ids are stored, compared and written into markers and reply headers: printable ASCII only.
    assert re.fullmatch(r"[\x21-\x7e]+", message.message_id), message.message_id
    assert message.date.tzinfo is not None
    assert "\x00" not in text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_html())
def test_hostile_html_converts_or_is_refused_with_a_reason(html: str) -> None:
    """Broken, deep and scripted HTML goes through pandoc and the writer, or fails with a reason."""
    try:
        blocks = html_to_blocks(html)
    except MessageError as error:
        _assert_reasoned(error)
        return
    text = WikitextWriter({}).blocks(blocks)
    assert "<script" not in text.lower()


def _mail(*headers: bytes, body: bytes = b"Hallo\r\n") -> bytes:
    return b"\r\n".join((b"From: Anna <anna@example.org>", *headers)) + b"\r\n\r\n" + body


def test_to_of_nested_groups_keeps_the_address_instead_of_recursing() -> None:
    """`a:` thousands of times made the address parser recurse to death; the address is kept."""
    message = parse_message(
        _mail(b"Message-ID: <g@example.org>", b"To: " + b"a:" * 5000 + b" real@example.org")
    )
    assert ("", "real@example.org") in message.to
    assert message_marker("g@example.org") in _render(message)


def test_to_of_nested_comments_is_read() -> None:
    """Thousands of open comments in Cc: the header cannot nest that deep, the mail is still read."""
    message = parse_message(_mail(b"Message-ID: <c@example.org>", b"Cc: " + b"(" * 5000 + b"x@example.org"))
    assert message.cc == (("", "x@example.org"),)


def test_to_of_thousands_of_encoded_words_is_decoded() -> None:
    """A name of 3,000 encoded words is decoded whole."""
    words = b" ".join([b"=?utf-8?b?w7w=?="] * 3000)
    message = parse_message(_mail(b"Message-ID: <w@example.org>", b"To: " + words + b" <many@example.org>"))
    assert message.to == (("ü" * 3000, "many@example.org"),)


def test_8bit_message_id_gives_one_canonical_id_however_it_is_decoded() -> None:
    """Raw UTF-8 or Latin-1 bytes in a Message-ID gave a TypeError; now one id, also via IMAP.

    sync reads the id first from a header-only fetch, decoded with replacement characters; the
    same mail parsed whole must give the same id, or known mail would be fetched again.
    """
    for header in (b"Message-ID: <a\xc3\xbc\xc3\xa4b@Example.ORG>", b"Message-ID: <a\xfc\xe4b@example.org>"):
        message = parse_message(_mail(header))
        assert message.message_id == "a?b@example.org"
        assert message.has_own_id
        for codec in ("utf-8", "ascii"):
            assert extract_ids(header.decode(codec, "replace").partition(":")[2]) == [message.message_id]


def test_nul_in_ids_gives_usable_ids() -> None:
    """NUL bytes in Message-ID, References and In-Reply-To leave ids without control characters."""
    message = parse_message(
        _mail(
            b"Message-ID: <own\x00id@example.org>",
            b"References: <r1\x00@example.org>\x00<r2@example.org>",
            b"In-Reply-To: <p\xff\x00arent@example.org>",
        )
    )
    assert message.message_id == "own?id@example.org"
    assert message.references == ("r1?@example.org", "r2@example.org", "p?arent@example.org")
    assert message.original_id == ""  # not fit for a reply's header: the canonical id stands in


def test_message_id_of_only_8bit_bytes_gets_a_synthesized_id() -> None:
    """An id with no letter or digit left would merge unrelated mails: a synthesized id instead."""
    message = parse_message(_mail(b"Message-ID: <\xff\xfe@\xc3\xbc>"))
    assert not message.has_own_id
    assert message.message_id.endswith("@" + SYNTHETIC_DOMAIN)


def test_overflowing_date_falls_back_to_internaldate() -> None:
    """Year 99999999999 raised OverflowError; the IMAP INTERNALDATE stands in."""
    message = parse_message(
        _mail(b"Message-ID: <d@example.org>", b"Date: Tue, 02 Jan 99999999999 10:00:00 +0100"), INTERNALDATE
    )
    assert message.date == INTERNALDATE


def test_impossible_and_absurd_dates_fall_back_to_internaldate() -> None:
    """30 February, year 9999 west of UTC, 1800 and 3000 are not believed."""
    for value in (
        b"Fri, 30 Feb 2024 10:00:00 +0000",
        b"Fri, 31 Dec 9999 23:59:59 -2359",
        b"Tue, 02 Jan 1800 10:00:00 +0100",
        b"Thu, 01 Jan 3000 00:00:00 +0000",
        b"Tue, 02 Jan 2024 10:00:00 +9999",
    ):
        assert parse_message(_mail(b"Date: " + value), INTERNALDATE).date == INTERNALDATE, value
    good = parse_message(_mail(b"Date: Tue, 02 Jan 2024 10:00:00 +0100"), INTERNALDATE)
    assert good.date.isoformat() == "2024-01-02T10:00:00+01:00"


def test_bogus_charset_in_encoded_words_falls_back_word_by_word() -> None:
    """An unknown or malformed charset raised CharsetError or left every word encoded."""
    message = parse_message(
        _mail(
            b"Message-ID: <cs@example.org>",
            b"Subject: =?bogus-charset?q?Gr=FC=DFe?= =?utf-8?q?_aus_K=C3=B6ln?=",
            b"To: =?utf-8\xff?q?J=C3=BCrgen?= <j@example.org>",
        )
    )
    assert message.subject == "Grüße aus Köln"
    assert message.to == (("Jürgen", "j@example.org"),)


def test_bogus_body_charset_is_repaired() -> None:
    """A Content-Type charset no codec knows (or a non-text codec) decodes like an unlabelled body."""
    for charset in (b"bogus", b"base64", b"idna", b"utf-8\xff"):
        raw = _mail(
            b"Message-ID: <b@example.org>",
            b'Content-Type: text/plain; charset="' + charset + b'"',
            body=b"Gr\xc3\xbc\xc3\x9fe\r\n",
        )
        assert parse_message(raw).body_text == "Grüße", charset


def test_8bit_content_id_does_not_break_the_attachment() -> None:
    """A Content-ID with 8-bit bytes came as a `Header` object and raised AttributeError."""
    raw = _mail(
        b"Message-ID: <cid@example.org>",
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/mixed; boundary="b"',
        body=b"--b\r\nContent-Type: text/plain\r\n\r\nHallo\r\n--b\r\nContent-Type: image/png\r\n"
        b"Content-ID: <\xff\xfe@example.org>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"iVBORw0KGgoAAA\r\n--b--\r\n",
    )
    message = parse_message(raw)
    assert [att.content_type for att in message.attachments] == ["image/png"]
    assert message.attachments[0].content_id is not None
    assert "attachment.png" in _render(message)


def _nested(levels: int) -> bytes:
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="d%d"\r\n\r\n--d%d\r\n' % (i, i) for i in range(levels)
    )
    head = b"From: a@example.org\r\nMessage-ID: <deep@example.org>\r\n"
    return head + opening + b"Content-Type: text/plain\r\n\r\nbottom text\r\n"


def test_text_at_the_bottom_of_600_nested_multiparts_is_kept() -> None:
    """The walk once stopped at 50 levels and published such a mail as empty."""
    assert parse_message(_nested(600)).body_text == "bottom text"


def test_mime_nested_beyond_any_parser_is_refused_with_a_reason() -> None:
    """A thousand nested multiparts exhaust Python's parser: refused, and the reason says so."""
    raw = _nested(1000)
    try:
        parse_message(raw)
    except MessageError as error:
        _assert_reasoned(error)
        assert "nested" in str(error)
    else:
        raise AssertionError("a thousand levels were expected to be refused")


def test_unclosed_nested_lists_convert_and_keep_their_text() -> None:
    """Thirty unclosed `<ul><li>` made pandoc backtrack for minutes; tidied, the text arrives."""
    raw = _mail(
        b"Message-ID: <ul@example.org>",
        b"Content-Type: text/html; charset=utf-8",
        body=b"<ul><li>" * 30 + b"innermost words",
    )
    assert "innermost words" in _render(parse_message(raw))


def test_empty_mail_is_refused_with_a_reason() -> None:
    """Nothing to publish: the reason says the mail is empty."""
    try:
        parse_message(b"\r\n \r\n")
    except MessageError as error:
        assert str(error) == "the mail is empty"
    else:
        raise AssertionError("an empty mail was expected to be refused")


def test_rfc2231_names_with_bogus_charsets_and_bracketed_names_are_kept() -> None:
    """`name*=` with an unknown charset falls back like text; a plain `<a>.txt` keeps its brackets."""
    names: list[str] = []
    for parameter in (b"name*=bogus''%FC.txt", b"name*=utf-8''%C3%BC.txt", b'name="<a>.txt"'):
        raw = _mail(
            b"Message-ID: <n@example.org>",
            b"Content-Type: multipart/mixed; boundary=b",
            body=b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
            b"Content-Type: application/octet-stream; " + parameter + b"\r\n\r\ndata\r\n--b--\r\n",
        )
        names.extend(attachment.filename for attachment in parse_message(raw).attachments)
    assert names == ["ü.txt", "ü.txt", "<a>.txt"]
