"""Sample threads for looking at thread pages: what a reader of the wiki sees (issue 11).

A fixed set of realistic conversations, German and English: a plain-text thread with agenda
lines (``TOP 1: …``), lists, a signature, a bottom-posted and an interleaved reply and a reply
whose text part carries a file name; an HTML newsletter with image-only links and empty
paragraphs; an OpenPGP-signed mail with an image and a PDF, answered by a mail with an attached
message (``message/rfc822``, base64-encoded) and by an S/MIME-signed mail. Every mail is
returned as delivered by an MTA (``Return-Path`` and ``Delivered-To`` prepended).

Used by tests/integration/test_page_look.py (checks the parsed HTML) and bench/screenshots.py
(writes screenshots of the pages for the README), so both look at the same pages.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from tests.integration.support import WikiReader, new_space
from tests.integration.test_attachments import pdf_document
from tests.mailgen import png_image
from tests.servers import DovecotServer, MediaWikiServer

MAILBOX = "team-sales@example.de"


@dataclass(frozen=True)
class SampleThread:
    """One conversation: its key (file name of its screenshot), page language and raw mails."""

    key: str
    language: str
    subject: str  # without list tag and reply prefixes, as the page title shows it
    mails: tuple[bytes, ...]


def delivered(mail: EmailMessage | bytes, sender: str) -> bytes:
    """Return ``mail`` as an MTA stores it: trace headers prepended to the message as sent."""
    raw = mail if isinstance(mail, bytes) else mail.as_bytes()
    return f"Return-Path: <{sender}>\r\nDelivered-To: {MAILBOX}\r\n".encode() + raw


def _plain(
    sender: str, subject: str, body: str, when: datetime, message_id: str, parent: tuple[str, ...] = ()
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = MAILBOX
    mail["Subject"] = subject
    mail["Date"] = format_datetime(when)
    mail["Message-ID"] = f"<{message_id}>"
    if parent:
        mail["In-Reply-To"] = f"<{parent[-1]}>"
        mail["References"] = " ".join(f"<{ref}>" for ref in parent)
    mail.set_content(body)
    return mail


def _day(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


# -- German plain-text thread: agenda, lists, bottom-posted and interleaved replies -------------

AGENDA = """\
Hallo zusammen,

anbei die Punkte für die Besprechung am Donnerstag:

TOP 1: Liefertermin
TOP 2: Preis & Rabatt
TOP 3: Steuerung

Komponenten laut Angebot:
  * S7-1200 (CPU 1214C)
  * Antrieb SEW MOVIMOT
  - Gurt: 800 mm, 3-lagig

Bitte bis Mittwoch Rückmeldung.

Viele Grüße
Jürgen Müller
"""
SIGNATURE = "-- \nMüller Fördertechnik GmbH · Tel. 0711 123456\n"

BOTTOM_ANSWER = "Passt für mich. Zu TOP 1: Liefertermin KW 3 ist machbar."
INTERLEAVED_ANSWERS = (
    "Den Termin brauchen wir schriftlich bis Freitag.",
    "3 % Skonto sind abgesprochen, mehr nicht.",
)

NAMED_TEXT_ANSWER = "Ich bin am Donnerstag dabei und bringe die Zeichnungen mit."

_DE_SUBJECT = "Angebot Förderband FB-200"
_DE_IDS = (
    "fb200-1@mueller.example.de",
    "fb200-2@schmidt.example.de",
    "fb200-3@wagner.example.de",
    "fb200-4@braun.example.de",
)


def _german_thread() -> SampleThread:
    first = _plain(
        "Jürgen Müller <juergen@mueller.example.de>",
        f"[Vertrieb] {_DE_SUBJECT}",
        AGENDA + SIGNATURE,
        _day(20, 9),
        _DE_IDS[0],
    )
    quoted = "\n".join(f"> {line}".rstrip() for line in AGENDA.splitlines())
    bottom = _plain(
        "Anna Schmidt <anna@schmidt.example.de>",
        f"[Vertrieb] AW: {_DE_SUBJECT}",
        f"Am 20.11.2026 um 10:00 schrieb Jürgen Müller:\n{quoted}\n\n{BOTTOM_ANSWER}\nGruß, Anna\n",
        _day(20, 11),
        _DE_IDS[1],
        _DE_IDS[:1],
    )
    interleaved = _plain(
        "Peter Wagner <peter@wagner.example.de>",
        f"[Vertrieb] Re: {_DE_SUBJECT}",
        "Hallo Jürgen,\n\nAm 20.11.2026 um 10:00 schrieb Jürgen Müller:\n"
        f"> TOP 1: Liefertermin\n\n{INTERLEAVED_ANSWERS[0]}\n\n"
        f"> TOP 2: Preis & Rabatt\n\n{INTERLEAVED_ANSWERS[1]}\n\nPeter\n",
        _day(20, 14),
        _DE_IDS[2],
        _DE_IDS[:1],
    )
    # Some clients give the text part a file name although it is the mail's text.
    named_text = _plain(
        "Lisa Braun <lisa@braun.example.de>",
        f"[Vertrieb] AW: {_DE_SUBJECT}",
        f"{NAMED_TEXT_ANSWER}\n\nLisa\n",
        _day(21, 8),
        _DE_IDS[3],
        _DE_IDS[:1],
    )
    named_text["Content-Disposition"] = 'inline; filename="Nachricht.txt"'
    mails = (
        delivered(first, "juergen@mueller.example.de"),
        delivered(bottom, "anna@schmidt.example.de"),
        delivered(interleaved, "peter@wagner.example.de"),
        delivered(named_text, "lisa@braun.example.de"),
    )
    return SampleThread("thread-de", "de", _DE_SUBJECT, mails)


# -- English HTML newsletter: image-only links, empty paragraphs, runs of <br> --------------------

NEWSLETTER_HTML = """\
<html><body>
<table><tr><td><a href="https://vendor.example/"><img src="https://vendor.example/logo.png"
 alt="Vendor logo" width="120"></a></td></tr></table>
<p>&nbsp;</p><p></p><p><br></p>
<h2>Product news, November 2026</h2>
<p>Our new conveyor controller ships in December.</p>
<br><br><br><br>
<p><a href="https://vendor.example/promo"><img src="https://vendor.example/banner.png"></a></p>
<p></p><p>&nbsp;</p>
<ul><li>Faster start-up</li><li>Lower power draw</li></ul>
<p><a href="https://vendor.example/news">Read the full story</a></p>
<p><a href="https://vendor.example/t"><img src="https://vendor.example/twitter.png" alt=""></a>
<a href="https://vendor.example/l"><img src="https://vendor.example/linkedin.png" alt=""></a></p>
<div><img src="https://vendor.example/pixel.gif" width="1" height="1"></div>
</body></html>
"""


def _newsletter() -> SampleThread:
    mail = EmailMessage()
    mail["From"] = "Vendor News <news@vendor.example>"
    mail["To"] = MAILBOX
    mail["Subject"] = "Product news November 2026"
    mail["Date"] = format_datetime(_day(18, 7))
    mail["Message-ID"] = "<news-2026-11@vendor.example>"
    mail.set_content(NEWSLETTER_HTML, subtype="html")
    return SampleThread(
        "newsletter-en", "en", "Product news November 2026", (delivered(mail, "bounce@vendor.example"),)
    )


# -- English attachments: a signed mail with an image and a PDF, an attached message -------------

FORWARDED_SENDER = "Bob Builder <bob@builder.example>"
FORWARDED_SUBJECT = "Delivery schedule for site B"
FORWARDED_BODY = "The crane arrives on 2 December, the belts on 4 December.\n"
_EN_IDS = ("photos-1@site.example", "photos-2@site.example", "photos-3@site.example")
SMIME_ANSWER = "Approved, please go ahead with site B."
_CRLF = "\r\n"


def _signed(head: str, inner: EmailMessage, protocol: str, signature_part: str) -> bytes:
    """A ``multipart/signed`` mail: ``head`` header lines, the signed part, the signature part.

    The signature is not valid (the bridge does not verify signatures); its part is as a
    client writes it, with the file name that used to show up as a refused attachment.
    """
    del inner["MIME-Version"]
    boundary = "signed-" + protocol.rsplit("/", 1)[-1]
    signed_part = inner.as_string().replace("\n", _CRLF)
    return (
        f"{head}MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/signed; protocol="{protocol}"; micalg=sha-256;\r\n'
        f' boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\n{signed_part}\r\n--{boundary}\r\n{signature_part}\r\n--{boundary}--\r\n"
    ).encode()


def _head(sender: str, subject: str, when: datetime, number: int) -> str:
    """Header lines (CRLF-terminated) of mail ``number`` of the attachments thread."""
    lines = [f"From: {sender}", f"To: {MAILBOX}", f"Subject: {subject}", f"Date: {format_datetime(when)}"]
    lines.append(f"Message-ID: <{_EN_IDS[number]}>")
    if number:
        lines += [f"In-Reply-To: <{_EN_IDS[0]}>", f"References: <{_EN_IDS[0]}>"]
    return _CRLF.join(lines) + _CRLF


def _openpgp_signed_with_files() -> bytes:
    inner = EmailMessage()
    inner.set_content("Photos from the site and the test report are attached.\n\nAlice\n")
    inner.add_attachment(png_image("page-look-site"), maintype="image", subtype="png", filename="site.png")
    inner.add_attachment(
        pdf_document("page-look-report"), maintype="application", subtype="pdf", filename="report.pdf"
    )
    signature = (
        'Content-Type: application/pgp-signature; name="signature.asc"\r\n'
        'Content-Disposition: attachment; filename="signature.asc"\r\n\r\n'
        "-----BEGIN PGP SIGNATURE-----\r\n\r\niQEzBAEBCAAdFiEEpageLookSampleSignature==\r\n"
        "=abcd\r\n-----END PGP SIGNATURE-----\r\n"
    )
    head = _head("Alice Baker <alice@site.example>", "Site photos and test report", _day(19, 8), 0)
    return _signed(head, inner, "application/pgp-signature", signature)


def _smime_signed() -> bytes:
    inner = EmailMessage()
    inner.set_content(f"{SMIME_ANSWER}\n\nDana\n")
    signature = (
        'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="smime.p7s"\r\n\r\n'
        + base64.encodebytes(b"page-look sample S/MIME signature" * 8).decode().replace("\n", _CRLF)
    )
    head = _head("Dana Evans <dana@site.example>", "Re: Site photos and test report", _day(19, 12), 2)
    return _signed(head, inner, "application/pkcs7-signature", signature)


def _with_attached_message() -> bytes:
    attached = _plain(
        FORWARDED_SENDER, FORWARDED_SUBJECT, FORWARDED_BODY, _day(18, 15), "sched@builder.example"
    )
    encoded = base64.encodebytes(attached.as_bytes()).decode().replace("\n", "\r\n")
    boundary = "mixed-boundary-2"
    head = _head("Carl Davis <carl@site.example>", "Re: Site photos and test report", _day(19, 10), 1)
    return (
        f"{head}MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Thanks. Bob's schedule is attached below.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="schedule.eml"\r\n\r\n'
        f"{encoded}\r\n--{boundary}--\r\n"
    ).encode()


def _attachments_thread() -> SampleThread:
    mails = (
        delivered(_openpgp_signed_with_files(), "alice@site.example"),
        delivered(_with_attached_message(), "carl@site.example"),
        delivered(_smime_signed(), "dana@site.example"),
    )
    return SampleThread("attachments-en", "en", "Site photos and test report", mails)


def sample_threads() -> list[SampleThread]:
    """Every sample conversation, German first (the README's screenshot shows it)."""
    return [_german_thread(), _newsletter(), _attachments_thread()]


def publish_samples(dovecot: DovecotServer, mediawiki: MediaWikiServer, directory: Path) -> dict[str, str]:
    """Deliver the samples, one mapping per page language, run ``once``; return key -> page title.

    Raises AssertionError when the command fails or a thread did not get exactly one page.
    """
    titles: dict[str, str] = {}
    reader = WikiReader(mediawiki)
    threads = sample_threads()
    for language in sorted({thread.language for thread in threads}):
        space = new_space(dovecot, mediawiki, directory / language)
        space.directory.mkdir(parents=True, exist_ok=True)
        space.write_config(language=language)
        mine = [thread for thread in threads if thread.language == language]
        for thread in mine:
            for raw in thread.mails:
                space.append(raw)
        completed = space.cli("once")
        assert completed.returncode == 0, completed.stderr
        written = reader.titles(space.prefix)
        for thread in mine:
            found = [title for title in written if title.startswith(f"{space.prefix}/{thread.subject}")]
            assert len(found) == 1, (thread.key, written)
            titles[thread.key] = found[0]
    return titles
