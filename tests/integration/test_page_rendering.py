"""Rendering fixes of issue 11 on the real wiki: what a reader sees of bottom-posted replies,
attached mails, named inline texts, signatures, list tags, HTML spacing, image links and 8-bit
headers (`action=parse` of pages one pass published from Dovecot).
"""

from __future__ import annotations

import base64
import html
import re
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.integration.support import ParsedPage, WikiReader, make_mail, new_space, unique
from tests.servers import DovecotServer, MediaWikiServer
from tests.unit.test_rendering_fixes import attached_mail

BOTTOM_QUOTE = "Which port does the bridge use"
BOTTOM_ANSWER = "It uses port 993 for IMAP"


def _bottom_posted() -> bytes:
    body = f"On Mon, 2 Mar 2026, Ann wrote:\n> {BOTTOM_QUOTE}?\n\n{BOTTOM_ANSWER}.\n"
    return make_mail("bottom@example.de", "Bridge port", body)


def _named_inline_text() -> bytes:
    return (
        b"From: Bob <bob@example.de>\r\nTo: team-sales@example.de\r\nSubject: Named text\r\n"
        b"Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <named@example.de>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b'Content-Disposition: inline; filename="message.txt"\r\n\r\nThe named inline text.\r\n'
    )


def _signed() -> bytes:
    return (
        b"From: Bob <bob@example.de>\r\nTo: team-sales@example.de\r\nSubject: Signed order\r\n"
        b"Date: Mon, 2 Mar 2026 11:00:00 +0000\r\nMessage-ID: <signed@example.de>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/signed; protocol="application/pgp-signature"; boundary="s"\r\n\r\n'
        b"--s\r\nContent-Type: text/plain\r\n\r\nWe order two.\r\n--s\r\n"
        b'Content-Type: application/pgp-signature; name="signature.asc"\r\n\r\n'
        b"-----BEGIN PGP SIGNATURE-----\r\nabc\r\n-----END PGP SIGNATURE-----\r\n--s--\r\n"
    )


LIST_REPLY = make_mail("list@example.de", "[USRP-users] Re: Clock drift", "The clock drifts.\n")


def _html_mail() -> bytes:
    mail = EmailMessage()
    mail["From"] = "Bob <bob@example.de>"
    mail["To"] = "team-sales@example.de"
    mail["Subject"] = "Newsletter"
    mail["Date"] = "Mon, 2 Mar 2026 12:00:00 +0000"
    mail["Message-ID"] = "<html@example.de>"
    mail.set_content(
        "<p>First line</p><p>&nbsp;</p><p><br></p><p>a<br><br><br><br>b</p>"
        '<p><a href="https://acme.example/"><img src="https://ads.example/logo.png" alt="ACME"></a></p>'
        '<p><a href="https://acme.example/shop"><img src="https://ads.example/p.gif"></a></p>',
        subtype="html",
    )
    return mail.as_bytes()


def _eight_bit_headers() -> bytes:
    name = "Grüße.pdf".encode()
    first, second = base64.b64encode(name[:3]).decode(), base64.b64encode(name[3:]).decode()
    return (
        b"From: \xe8\xe9\xef\xf2 <cz@example.cz>\r\nTo: team-sales@example.de\r\nSubject: Offer\r\n"
        b"Date: Mon, 2 Mar 2026 13:00:00 +0000\r\nMessage-ID: <charset@example.de>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="c"\r\n\r\n--c\r\n'
        b"Content-Type: text/plain; charset=iso-8859-2\r\n\r\n\xe8au\r\n--c\r\n"
        + f'Content-Type: application/pdf; name="=?UTF-8?B?{first}?= =?UTF-8?B?{second}?="\r\n'.encode()
        + b"Content-Disposition: attachment\r\n\r\n%PDF-1.4\r\n--c--\r\n"
    )


MAILS = {
    "charset": _eight_bit_headers(),
    "html": _html_mail(),
    "list": LIST_REPLY,
    "bottom": _bottom_posted(),
    "outer": attached_mail("base64"),
    "named": _named_inline_text(),
    "signed": _signed(),
}


@pytest.fixture(scope="module")
def parsed(
    dovecot: DovecotServer, mediawiki: MediaWikiServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, ParsedPage]:
    """Mail key -> its page as the wiki renders it, all published by one pass."""
    space = new_space(dovecot, mediawiki, Path(tmp_path_factory.mktemp(unique("render"))))
    space.write_config()
    for raw in MAILS.values():
        space.append(raw)
    assert space.run_pass().failed == 0
    reader = WikiReader(mediawiki)
    by_id: dict[str, ParsedPage] = {}
    for title in reader.titles(space.prefix):
        page = reader.parse(title)
        by_id.update(dict.fromkeys(page.message_ids, page))
    return {key: by_id[f"{key}@example.de"] for key in MAILS}


@pytest.fixture(scope="module")
def pages(parsed: dict[str, ParsedPage]) -> dict[str, str]:
    """Mail key -> the HTML of its page as a reader sees it (references resolved)."""
    return {key: html.unescape(page.html).replace("\xa0", " ") for key, page in parsed.items()}


def test_bottom_posted_reply_shows_the_answer_and_folds_the_quote(pages: dict[str, str]) -> None:
    page = pages["bottom"]
    assert page.index(BOTTOM_ANSWER) < page.index("ewb-quoted") < page.index(BOTTOM_QUOTE)


def test_base64_attached_mail_is_shown_like_a_forwarded_mail(pages: dict[str, str]) -> None:
    page = pages["outer"]
    for text in ("Ann Ärger", "Inner s\u00fcbject", "2 March 2026", "Inner body \u00e4", "plan.pdf"):
        assert text in page
    assert "(unknown sender)" not in page and "1970" not in page


def test_named_inline_text_is_the_body(pages: dict[str, str]) -> None:
    page = pages["named"]
    assert "The named inline text." in page
    assert "(empty message)" not in page and "message.txt" not in page


def test_signature_is_a_note_not_a_file(pages: dict[str, str]) -> None:
    page = pages["signed"]
    assert "signed (OpenPGP)" in page
    assert "signature.asc" not in page and "not uploaded" not in page


def test_list_tag_is_not_in_the_heading(parsed: dict[str, ParsedPage]) -> None:
    assert parsed["list"].sections == ["Re: Clock drift"]


def test_html_spacing_collapses_and_image_links_are_named(pages: dict[str, str]) -> None:
    page = pages["html"]
    assert not re.search(r"(?:<br ?/?>\s*){3,}", page)
    assert not re.search(r"<p>\s*(?:<br ?/?>\s*)*</p>", page)
    assert ">ACME</a>" in page and ">image</a>" in page
    assert "autonumber" not in page  # a bare `[url]` link, shown as an empty-looking [1]


def test_header_bytes_and_split_words_are_decoded(pages: dict[str, str]) -> None:
    page = pages["charset"]
    assert "čéďň" in page and "Grüße" in page
    assert "\ufffd" not in page and "Ã" not in page
