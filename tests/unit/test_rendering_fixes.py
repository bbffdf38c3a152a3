"""Rendering fixes of issue 11: folded bottom-posted quotes, attached mails of any transfer
encoding, named inline bodies, signature parts, list tags in headings, tidy HTML, image links and
8-bit or split header words (pure; pandoc is the only program run)."""

from __future__ import annotations

import base64
import html
import quopri
from datetime import UTC, datetime

import pytest

from bridge.core.mime import decode_header_text
from bridge.core.parsing import parse_message
from bridge.core.render.html import WikitextWriter
from bridge.core.render.labels import label
from bridge.core.render.page import RenderOptions, render_message
from bridge.core.render.pandoc import html_to_blocks
from bridge.core.render.quotes import split_blocks, split_plain
from bridge.core.subjects import heading_subject


def test_bottom_posted_reply_folds_the_leading_quote() -> None:
    body = "On Mon, 1 Jan 2024, Ann wrote:\n> the question\n> more\n\nThe answer.\n\n-- \nBob"
    visible, folded = split_plain(body)
    assert visible == "The answer."
    assert "> the question" in folded and "Bob" in folded


def test_interleaved_answers_keep_their_quotes_visible() -> None:
    body = "> first question\nfirst answer\n> second question\nsecond answer"
    assert split_plain(body) == (body, "")


def test_a_bare_quote_stays_visible() -> None:
    body = "> only quoted\n> text"
    assert split_plain(body) == (body, "")


def _blocks_split(html: str) -> tuple[str, str]:
    new, quoted = split_blocks(html_to_blocks(html))
    writer = WikitextWriter({})
    return writer.blocks(new), writer.blocks(quoted)


def test_bottom_posted_html_reply_folds_the_leading_quote() -> None:
    visible, folded = _blocks_split("<blockquote><p>the question</p></blockquote><p>The answer.</p>")
    assert visible == "The answer."
    assert "the question" in folded


def test_gmail_quote_above_the_answer_is_folded() -> None:
    markup = (
        '<div class="gmail_quote"><div>Ann wrote:</div><blockquote>the question</blockquote></div>'
        "<p>Answer.</p>"
    )
    visible, folded = _blocks_split(markup)
    assert visible == "Answer."
    assert "the question" in folded
    assert _blocks_split('<p>Answer.</p><div class="gmail_quote"><p>old</p></div>') == ("Answer.", "old")


_INNER = (
    "From: Ann Ärger <ann@example.de>\r\nSubject: Inner s\u00fcbject\r\n"
    "Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <inner@example.de>\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/mixed; boundary="in"\r\n\r\n--in\r\n'
    "Content-Type: text/plain; charset=utf-8\r\n\r\nInner body \u00e4\r\n--in\r\n"
    'Content-Type: application/pdf; name="plan.pdf"\r\n'
    'Content-Disposition: attachment; filename="plan.pdf"\r\n'
    "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--in--\r\n"
).encode()


def attached_mail(encoding: str, inner: bytes = _INNER) -> bytes:
    """A mail carrying `inner` as a message/rfc822 part in the given transfer encoding."""
    body = base64.encodebytes(inner) if encoding == "base64" else quopri.encodestring(inner)
    return (
        b"From: Bob <bob@example.de>\r\nSubject: Fwd: inner\r\nMessage-ID: <outer@example.de>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="out"\r\n\r\n--out\r\n'
        b"Content-Type: text/plain\r\n\r\nSee the attached mail.\r\n--out\r\n"
        b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: "
        + encoding.encode()
        + b"\r\n\r\n"
        + body
        + b"\r\n--out--\r\n"
    )


@pytest.mark.parametrize("encoding", ["base64", "quoted-printable"])
def test_encoded_attached_mail_is_read_like_a_forwarded_mail(encoding: str) -> None:
    [inner] = parse_message(attached_mail(encoding)).forwarded
    assert (inner.sender_name, inner.sender_address) == ("Ann Ärger", "ann@example.de")
    assert inner.subject == "Inner s\u00fcbject"
    assert inner.date == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert inner.body_text == "Inner body \u00e4"
    assert [att.filename for att in inner.attachments] == ["plan.pdf"]


def _mail(parts: str) -> bytes:
    head = (
        "From: Bob <bob@example.de>\r\nSubject: parts\r\nMessage-ID: <parts@example.de>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    )
    return (head + parts + "--b--\r\n").encode()


def test_named_inline_text_part_is_the_body() -> None:
    message = parse_message(
        _mail(
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
            'Content-Disposition: inline; filename="message.txt"\r\n\r\nThe real text.\r\n'
        )
    )
    assert (message.body_text, message.attachments) == ("The real text.", ())
    assert "The real text." in render_message(message, RenderOptions(mailbox="team"))


def test_named_inline_text_after_the_body_stays_an_attachment() -> None:
    message = parse_message(
        _mail(
            "--b\r\nContent-Type: text/plain\r\n\r\nBody.\r\n--b\r\nContent-Type: text/plain\r\n"
            'Content-Disposition: inline; filename="notes.txt"\r\n\r\nNotes.\r\n'
        )
    )
    assert message.body_text == "Body."
    assert [att.filename for att in message.attachments] == ["notes.txt"]


@pytest.mark.parametrize(
    ("kind", "name", "language", "note"),
    [
        ("application/pgp-signature", "signature.asc", "de", "signiert (OpenPGP)"),
        ("application/pkcs7-signature", "smime.p7s", "en", "signed (S/MIME)"),
        ("application/x-pkcs7-signature", "smime.p7s", "de", "signiert (S/MIME)"),
    ],
)
def test_signature_parts_become_a_note(kind: str, name: str, language: str, note: str) -> None:
    message = parse_message(
        _mail(
            f"--b\r\nContent-Type: text/plain\r\n\r\nSigned text.\r\n--b\r\nContent-Type: {kind}\r\n"
            f'Content-Disposition: attachment; filename="{name}"\r\n\r\nsig\r\n'
        )
    )
    page = render_message(message, RenderOptions(mailbox="team", language=language))
    assert note in page
    assert name not in page and label(language, "not_uploaded") not in page


@pytest.mark.parametrize(
    ("subject", "heading"),
    [
        ("[USRP-users] Re: Clock drift", "Re: Clock drift"),
        ("Re: [team] AW: [team] Angebot", "Re: AW: Angebot"),
        ("[PATCH] fix", "fix"),
        ("Plain [note] inside", "Plain [note] inside"),
        ("Re: [urgent]", "Re: [urgent]"),
    ],
)
def test_headings_drop_list_tags(subject: str, heading: str) -> None:
    assert heading_subject(subject) == heading
    message = parse_message(f"Subject: {subject}\r\nFrom: a@example.de\r\n\r\nText\r\n".encode())
    first_line = render_message(message, RenderOptions(mailbox="team")).split("\n", 1)[0]
    assert html.unescape(first_line) == f"== {heading} =="


def _html_wikitext(markup: str, language: str = "en") -> str:
    return WikitextWriter({}, language).blocks(html_to_blocks(markup))


def test_empty_paragraphs_and_runs_of_line_breaks_collapse() -> None:
    markup = (
        "<p>Hello</p><p>&nbsp;</p><p><br></p><div><br></div>"
        "<p><br>a<br><br><br><br>b<br> <br></p><p>&nbsp;<br>&nbsp;</p><p>end</p>"
    )
    assert _html_wikitext(markup) == "Hello\n\na<br /><br />b\n\nend"


@pytest.mark.parametrize(
    ("image", "language", "link"),
    [
        ('<img src="https://ads.example/logo.png" alt="ACME">', "en", "[https://acme.example/ ACME]"),
        ('<img src="https://ads.example/logo.png">', "de", "[https://acme.example/ Bild]"),
        ('<img src="https://ads.example/p.gif"> <img src="cid:gone">', "en", "[https://acme.example/ image]"),
    ],
)
def test_image_only_links_are_named(image: str, language: str, link: str) -> None:
    assert _html_wikitext(f'<p><a href="https://acme.example/">{image}</a></p>', language) == link


def test_a_dropped_image_leaves_nothing() -> None:
    assert _html_wikitext('<p><img src="https://t.example/pixel.gif"></p><p>Text</p>') == "Text"


def test_undeclared_header_bytes_are_read_in_the_text_charset() -> None:
    raw = (
        b"From: \xe8\xe9\xef\xf2 <a@example.cz>\r\nTo: \xe8ert <b@example.cz>\r\nSubject: \xe8au\r\n"
        b"Content-Type: text/plain; charset=iso-8859-2\r\n\r\n\xe8au\r\n"
    )
    message = parse_message(raw)
    assert (message.sender_name, message.to[0][0], message.subject) == ("čéďň", "čert", "čau")
    # Without a declared charset the fallback stays: UTF-8, else Windows-1252.
    assert parse_message(raw.replace(b"; charset=iso-8859-2", b"")).sender_name == "èéïò"


def test_a_character_split_across_encoded_words_is_joined() -> None:
    name = "Grüße.pdf".encode()
    first, second = base64.b64encode(name[:3]).decode(), base64.b64encode(name[3:]).decode()
    assert decode_header_text(f"=?UTF-8?B?{first}?= =?utf-8?B?{second}?=") == "Grüße.pdf"
    assert decode_header_text(f"=?UTF-8?B?{first}?= x =?UTF-8?B?{second}?=").startswith("Gr")
    message = parse_message(
        _mail(
            "--b\r\nContent-Type: text/plain\r\n\r\nSee file.\r\n--b\r\n"
            f'Content-Type: application/pdf; name="=?UTF-8?B?{first}?= =?UTF-8?B?{second}?="\r\n\r\nx\r\n'
        )
    )
    assert [att.filename for att in message.attachments] == ["Grüße.pdf"]


def test_charset_none_is_read_like_an_unknown_one() -> None:
    word = base64.b64encode("Grüße".encode()).decode()
    assert decode_header_text(f"=?NONE?B?{word}?=") == "Grüße"
    assert decode_header_text("=?none?Q?Gr=C3=BC=C3=9Fe?=") == "Grüße"
