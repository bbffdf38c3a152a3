"""Write the mail corpus of tests/unit/test_corpus.py: one .eml file per case and expected.json.

Run `python tests/data/corpus/make_corpus.py` from anywhere; the output is byte-for-byte the same
on every run (fixed boundaries, dates and file contents), so the generated files are committed and
the tests never need this script. Well-formed mails are built with the stdlib `email` package;
mails whose breakage must be byte-exact are written as raw bytes.

expected.json maps each file name to the properties the bridge must produce (see the module
docstring of tests/unit/test_corpus.py for the keys). Every name, address and domain is invented
(`.example` is reserved, RFC 2606).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import quopri
import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
Expected = dict[str, Any]
CaseFunction = Callable[[], tuple[bytes, Expected]]
CASES: dict[str, CaseFunction] = {}

DATE = "Tue, 24 Nov 2026 10:15:00 +0100"
DATE_ISO = "2026-11-24T10:15:00+01:00"
JM = "Jürgen Müller <juergen.mueller@nordwind.example>"
JM_ENCODED = "=?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen.mueller@nordwind.example>"
JANE = "Jane Doe <jane.doe@pennine-foods.example>"
TEAM = "Vertrieb <vertrieb@nordwind.example>"
HUGE_MARKER = "@@HUGE-ATTACHMENT-BASE64@@"


def case(name: str) -> Callable[[CaseFunction], CaseFunction]:
    """Register a case under its file name."""

    def register(function: CaseFunction) -> CaseFunction:
        assert name not in CASES, name
        CASES[name] = function
        return function

    return register


# ---------------------------------------------------------------------------------------------
# Building blocks


def blob(seed: str, size: int) -> bytes:
    """Deterministic pseudo-random bytes."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid single-colour PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )


def pdf(title: str, padding: int = 2000) -> bytes:
    """A small PDF-looking file (header, text, binary padding, trailer)."""
    return (
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Title ("
        + title.encode("latin-1", "replace")
        + b") >>\nendobj\nstream\n"
        + blob(title, padding)
        + b"\nendstream\n%%EOF\n"
    )


def docx(text: str) -> bytes:
    """A minimal Word document (a zip with fixed timestamps, so the bytes never change)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in (
            (
                "[Content_Types].xml",
                '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
                'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
                "</Types>",
            ),
            (
                "word/document.xml",
                '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats'
                f'.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p>'
                "</w:body></w:document>",
            ),
        ):
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 24, 10, 15, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content.encode("utf-8"))
    return buffer.getvalue()


def raw_mail(headers: Sequence[str | bytes], body: bytes | str, *, newline: bytes = b"\r\n") -> bytes:
    """Join header lines and a body (written with \\n) into a mail with `newline` line ends."""
    head = [line if isinstance(line, bytes) else line.encode("utf-8") for line in headers]
    data = body if isinstance(body, bytes) else body.encode("utf-8")
    text = b"\n".join(head) + b"\n\n" + data
    return text.replace(b"\r\n", b"\n").replace(b"\n", newline)


def part(headers: Sequence[str], body: bytes | str) -> bytes:
    """One MIME part (lines end in \\n; `raw_mail` turns them into CRLF)."""
    data = body if isinstance(body, bytes) else body.encode("utf-8")
    return "\n".join(headers).encode("utf-8") + b"\n\n" + data


def multipart(boundary: str, parts: Sequence[bytes], *, close: bool = True, preamble: str = "") -> bytes:
    """The body of a multipart entity with the given boundary."""
    out = preamble.encode("utf-8")
    for item in parts:
        out += b"\n--" + boundary.encode() + b"\n" + item.rstrip(b"\n") + b"\n"
    if close:
        out += b"--" + boundary.encode() + b"--\n"
    return out


def b64(data: bytes) -> str:
    """Base64 in 76-character lines, as mail clients write it."""
    return base64.encodebytes(data).decode("ascii")


def common(
    subject: str,
    message_id: str,
    *,
    sender: str = JM_ENCODED,
    to: str = TEAM,
    date: str = DATE,
    extra: Sequence[str] = (),
) -> list[str]:
    """The usual header lines of a corpus mail (header values must already be encoded)."""
    return [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {date}",
        f"Message-ID: <{message_id}>",
        *extra,
    ]


def simple(subject: str, message_id: str, body: str, *, sender: str = JM, to: str = TEAM) -> EmailMessage:
    """A text/plain UTF-8 mail built with the email package."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = DATE
    message["Message-ID"] = f"<{message_id}>"
    message.set_content(body)
    return message


def finish(message: EmailMessage) -> bytes:
    """Serialize with fixed boundaries and CRLF line ends."""
    for index, item in enumerate(message.walk()):
        if item.is_multipart():
            item.set_boundary(f"=_corpus_boundary_{index}")
    return message.as_bytes(policy=policy.SMTP)


def att(filename: str, content_type: str, data: bytes, **extra: Any) -> dict[str, Any]:
    """Expected attachment properties."""
    return {"filename": filename, "content_type": content_type, "size": len(data), **extra}


def expect(subject: str, sender_name: str = "Jürgen Müller", **values: Any) -> Expected:
    """Expected properties with the usual defaults."""
    return {"subject": subject, "sender_name": sender_name, **values}


# ---------------------------------------------------------------------------------------------
# Charsets


@case("charset-utf8-8bit.eml")
def _utf8_8bit() -> tuple[bytes, Expected]:
    body = (
        "Hallo Frau Schäfer,\n\ndie Lieferung für Müller & Söhne geht am Donnerstag raus.\n\nGrüße aus Köln "
        "– Jürgen\n"
    )
    raw = raw_mail(
        [
            *common(
                "=?UTF-8?Q?Lieferung_f=C3=BCr_M=C3=BCller_=26_S=C3=B6hne_=E2=80=93_KW_48?=",
                "c1@nordwind.example",
            ),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=UTF-8",
            "Content-Transfer-Encoding: 8bit",
        ],
        body,
    )
    lines = ["die Lieferung für Müller & Söhne geht am Donnerstag raus.", "Grüße aus Köln – Jürgen"]
    return raw, expect(
        "Lieferung für Müller & Söhne – KW 48",
        sender_address="juergen.mueller@nordwind.example",
        date=DATE_ISO,
        has_own_id=True,
        language="de",
        body_contains=lines,
        visible_contains=lines,
        folded=False,
    )


@case("charset-latin1-qp.eml")
def _latin1_qp() -> tuple[bytes, Expected]:
    text = (
        "Sehr geehrter Herr Müller,\n\nanbei die Maße für die Übergabehöhe: 850 mm.\n\nMit freundlichen "
        "Grüßen\nRüdiger Weiß\n"
    )
    raw = raw_mail(
        [
            "From: =?ISO-8859-1?Q?R=FCdiger_Wei=DF?= <r.weiss@lieferant.example>",
            f"To: {JM_ENCODED}",
            "Subject: =?ISO-8859-1?Q?=DCbergabeh=F6he_F=F6rderband?=",
            f"Date: {DATE}",
            "Message-ID: <c2@lieferant.example>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=ISO-8859-1",
            "Content-Transfer-Encoding: quoted-printable",
        ],
        quopri.encodestring(text.encode("latin-1")),
    )
    return raw, expect(
        "Übergabehöhe Förderband",
        "Rüdiger Weiß",
        language="de",
        body_contains=["anbei die Maße für die Übergabehöhe: 850 mm.", "Rüdiger Weiß"],
        visible_contains=["anbei die Maße für die Übergabehöhe: 850 mm."],
    )


@case("charset-windows1252-euro-quotes.eml")
def _cp1252() -> tuple[bytes, Expected]:
    text = (
        "Der Preis beträgt 1.250 € netto.\nBitte beachten Sie den Hinweis „Angebot gültig bis 31.12.“ – "
        "danke…\n"
    )
    raw = raw_mail(
        [
            *common("Preis =?windows-1252?Q?=80_und_=84Hinweis=93?=", "c3@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=windows-1252",
            "Content-Transfer-Encoding: 8bit",
        ],
        text.encode("cp1252"),
    )
    return raw, expect(
        "Preis € und „Hinweis“",
        language="de",
        body_contains=["Der Preis beträgt 1.250 € netto.", "„Angebot gültig bis 31.12.“ – danke…"],
        visible_contains=["1.250 € netto", "„Angebot gültig bis 31.12.“"],
    )


@case("charset-windows1252-labelled-latin1.eml")
def _cp1252_as_latin1() -> tuple[bytes, Expected]:
    text = "Rabatt: 5 % auf 980 € – gilt bis Freitag.\n"
    raw = raw_mail(
        [
            *common("Rabatt", "c4@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: text/plain; charset="iso-8859-1"',
            "Content-Transfer-Encoding: 8bit",
        ],
        text.encode("cp1252"),
    )
    return raw, expect("Rabatt", language="de", body_contains=["Rabatt: 5 % auf 980 € – gilt bis Freitag."])


@case("charset-iso8859-15.eml")
def _latin9() -> tuple[bytes, Expected]:
    text = "Preis: 99 € pro Stück.\nTeilnehmer: Œuvre, Šimon Žák.\n"
    raw = raw_mail(
        [
            *common("=?ISO-8859-15?Q?Preis_in_=A4?=", "c5@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=ISO-8859-15",
            "Content-Transfer-Encoding: base64",
        ],
        b64(text.encode("iso-8859-15")),
    )
    return raw, expect(
        "Preis in €",
        language="de",
        body_contains=["Preis: 99 € pro Stück.", "Œuvre, Šimon Žák."],
    )


@case("charset-utf8-labelled-latin1.eml")
def _utf8_as_latin1() -> tuple[bytes, Expected]:
    text = "Grüße aus Köln, Hohe Straße 5 – bis bald.\n"
    raw = raw_mail(
        [
            *common("Adresse", "c6@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=iso-8859-1",
            "Content-Transfer-Encoding: 8bit",
        ],
        text.encode("utf-8"),
    )
    return raw, expect(
        "Adresse",
        language="de",
        body_contains=["Grüße aus Köln, Hohe Straße 5 – bis bald."],
        body_not_contains=["Ã"],
    )


@case("charset-latin1-labelled-utf8.eml")
def _latin1_as_utf8() -> tuple[bytes, Expected]:
    text = "Grüße aus München, die Übergabe ist am Dienstag.\n"
    raw = raw_mail(
        [
            *common("=?utf-8?q?=C3=9Cbergabe?=", "c7@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ],
        text.encode("latin-1"),
    )
    return raw, expect(
        "Übergabe",
        language="de",
        body_contains=["Grüße aus München, die Übergabe ist am Dienstag."],
        body_not_contains=["\ufffd"],
    )


@case("charset-utf8-with-latin1-list-footer.eml")
def _mixed_footer() -> tuple[bytes, Expected]:
    body = "Grüße aus Köln – die Zeichnung hängt an.\n".encode() + (
        "\n_______________________________________________\nListe vertrieb-intern - Abmelden: Hohe Straße 5\n"
    ).encode("latin-1")
    raw = raw_mail(
        [
            *common("[vertrieb-intern] Zeichnung", "c8@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "List-Id: <vertrieb-intern.nordwind.example>",
        ],
        body,
    )
    return raw, expect(
        "[vertrieb-intern] Zeichnung",
        language="de",
        body_contains=["Grüße aus Köln – die Zeichnung hängt an.", "Abmelden: Hohe Straße 5"],
        body_not_contains=["Ã"],
    )


@case("charset-missing-8bit-utf8.eml")
def _no_charset() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            *common("Kein Zeichensatz", "c9@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/plain",
            "Content-Transfer-Encoding: 8bit",
        ],
        "Die Bestellung über 3 Förderbänder ist bestätigt.\n".encode(),
    )
    return raw, expect(
        "Kein Zeichensatz", language="de", body_contains=["Die Bestellung über 3 Förderbänder ist bestätigt."]
    )


@case("charset-no-mime-headers-latin1.eml")
def _no_mime_latin1() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            "From: R. Weiss <r.weiss@lieferant.example>",
            f"To: {TEAM}",
            "Subject: Lieferschein",
            f"Date: {DATE}",
            "Message-ID: <c10@lieferant.example>",
        ],
        "Der Lieferschein für die Maße liegt bei.\nGruß R. Weiß\n".encode("latin-1"),
        newline=b"\n",
    )
    return raw, expect(
        "Lieferschein",
        "R. Weiss",
        language="de",
        body_contains=["Der Lieferschein für die Maße liegt bei.", "Gruß R. Weiß"],
    )


@case("charset-raw-utf8-headers.eml")
def _raw_utf8_headers() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            "From: Jürgen Müller <juergen.mueller@nordwind.example>".encode(),
            f"To: {TEAM}",
            "Subject: Übergabe in Köln – Termin".encode(),
            f"Date: {DATE}",
            "Message-ID: <c11@nordwind.example>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ],
        "Termin: Donnerstag, 9 Uhr.\n",
    )
    return raw, expect(
        "Übergabe in Köln – Termin",
        sender_address="juergen.mueller@nordwind.example",
        language="de",
        body_contains=["Termin: Donnerstag, 9 Uhr."],
        wikitext_contains=["Übergabe in Köln"],
    )


@case("charset-raw-latin1-headers.eml")
def _raw_latin1_headers() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            "From: Rüdiger Weiß <r.weiss@lieferant.example>".encode("latin-1"),
            f"To: {TEAM}",
            "Subject: Grüße aus Köln".encode("latin-1"),
            f"Date: {DATE}",
            "Message-ID: <c12@lieferant.example>",
        ],
        "Hallo!\n",
    )
    return raw, expect("Grüße aus Köln", "Rüdiger Weiß", language="de", body_contains=["Hallo!"])


@case("charset-rfc2047-folded-mixed.eml")
def _rfc2047_mixed() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            "From: =?UTF-8?B?SsO8cmdlbiBN?=\n =?UTF-8?B?w7xsbGVy?= <juergen.mueller@nordwind.example>",
            "To: =?iso-8859-1?q?R=FCdiger_Wei=DF?= <r.weiss@lieferant.example>,\n"
            ' "=?utf-8?Q?M=C3=BCller=2C_J=C3=BCrgen?=" <jm@nordwind.example>',
            "Subject: =?ISO-8859-1?Q?Gr=FC=DFe_aus?=\n =?UTF-8?B?IEvDtmxuIOKAkyBBbmdlYm90?=",
            f"Date: {DATE}",
            "Message-ID: <c13@nordwind.example>",
        ],
        "Anbei das Angebot.\n",
    )
    return raw, expect(
        "Grüße aus Köln – Angebot",
        language="de",
        to=[["Rüdiger Weiß", "r.weiss@lieferant.example"], ["Müller, Jürgen", "jm@nordwind.example"]],
        body_contains=["Anbei das Angebot."],
    )


@case("charset-rfc2047-partial-words.eml")
def _rfc2047_partial() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            'From: "=?utf-8?Q?M=C3=BCller=2C_J=C3=BCrgen?=" <juergen.mueller@nordwind.example>',
            f"To: {TEAM}",
            "Subject: AW: =?utf-8?q?Pr=C3=BCfung?= der =?iso-8859-1?q?Ma=DFe?= (Los 7)",
            f"Date: {DATE}",
            "Message-ID: <c14@nordwind.example>",
        ],
        "Geprüft.\n",
    )
    return raw, expect(
        "AW: Prüfung der Maße (Los 7)", "Müller, Jürgen", language="de", body_contains=["Geprüft."]
    )


@case("charset-iso2022jp.eml")
def _iso2022jp() -> tuple[bytes, Expected]:
    subject = "見積書の送付"
    text = "山田様\n\n見積書を添付いたします。\nよろしくお願いいたします。\n"
    encoded_subject = "=?ISO-2022-JP?B?" + base64.b64encode(subject.encode("iso-2022-jp")).decode() + "?="
    raw = raw_mail(
        [
            "From: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?= <yamada@tokyo-trading.example>",
            f"To: {TEAM}",
            f"Subject: {encoded_subject}",
            f"Date: {DATE}",
            "Message-ID: <c15@tokyo-trading.example>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=ISO-2022-JP",
            "Content-Transfer-Encoding: 7bit",
        ],
        text.encode("iso-2022-jp"),
    )
    return raw, expect(subject, "山田", body_contains=["見積書を添付いたします。"])


@case("charset-koi8r.eml")
def _koi8r() -> tuple[bytes, Expected]:
    text = "Здравствуйте!\nПоставка задерживается на неделю.\n"
    raw = raw_mail(
        [
            "From: =?KOI8-R?B?"
            + base64.b64encode("Иван Петров".encode("koi8-r")).decode()
            + "?= <ivan@example.ru>",
            f"To: {TEAM}",
            "Subject: =?KOI8-R?B?" + base64.b64encode("Поставка".encode("koi8-r")).decode() + "?=",
            f"Date: {DATE}",
            "Message-ID: <c16@example.ru>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=KOI8-R",
            "Content-Transfer-Encoding: 8bit",
        ],
        text.encode("koi8-r"),
    )
    return raw, expect("Поставка", "Иван Петров", body_contains=["Поставка задерживается на неделю."])


@case("charset-utf7.eml")
def _utf7() -> tuple[bytes, Expected]:
    text = "Grüße – der Termin ist am Freitag.\n"
    raw = raw_mail(
        [
            *common("Termin", "c17@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=UTF-7",
            "Content-Transfer-Encoding: 7bit",
        ],
        text.encode("utf-7"),
    )
    return raw, expect("Termin", language="de", body_contains=["Grüße – der Termin ist am Freitag."])


@case("charset-unknown-label.eml")
def _unknown_label() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            *common("Unbekannter Zeichensatz", "c18@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=x-user-defined",
            "Content-Transfer-Encoding: 8bit",
        ],
        "Die Änderung der Größe ist übernommen.\n".encode("latin-1"),
    )
    return raw, expect(
        "Unbekannter Zeichensatz", language="de", body_contains=["Die Änderung der Größe ist übernommen."]
    )


@case("charset-utf8-qp-split-sequence.eml")
def _qp_split() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            *common("=?utf-8?b?8J+OiSBBdWZ0cmFnIGdld29ubmVu?=", "c19@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: text/plain; charset="utf-8"',
            "Content-Transfer-Encoding: quoted-printable",
        ],
        "Wir haben den Auftrag! Gr=C3=\n=BC=C3=9Fe an alle =F0=9F=8E=89 =E2=80=93 =E5=8F=97=E6=B3=A8 "
        "=D7=A2=D7=A1=\n=D7=A7=D7=94\n",
    )
    return raw, expect(
        "🎉 Auftrag gewonnen",
        language="de",
        body_contains=["Wir haben den Auftrag! Grüße an alle 🎉 – 受注 עסקה"],
    )


@case("charset-utf8-bom.eml")
def _bom() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            *common("BOM", "c20@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
        ],
        b64("\ufeffErste Zeile nach dem BOM.\nZweite Zeile.\n".encode()),
    )
    return raw, expect(
        "BOM",
        language="de",
        body_contains=["Erste Zeile nach dem BOM.", "Zweite Zeile."],
        wikitext_not_contains=["\ufeff"],
    )


# ---------------------------------------------------------------------------------------------
# Attachment file names


@case("filename-rfc2231.eml")
def _rfc2231() -> tuple[bytes, Expected]:
    data = pdf("Gruesse")
    raw = raw_mail(
        [
            *common("=?utf-8?q?Gr=C3=BC=C3=9Fe_als_PDF?=", "f1@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="rfc2231"',
        ],
        multipart(
            "rfc2231",
            [
                part(["Content-Type: text/plain; charset=utf-8"], "Die Grüße hängen an.\n"),
                part(
                    [
                        "Content-Type: application/pdf; name*=UTF-8''Gr%C3%BC%C3%9Fe.pdf",
                        "Content-Transfer-Encoding: base64",
                        "Content-Disposition: attachment; filename*=UTF-8''Gr%C3%BC%C3%9Fe.pdf",
                    ],
                    b64(data),
                ),
            ],
        ),
    )
    return raw, expect(
        "Grüße als PDF",
        language="de",
        body_contains=["Die Grüße hängen an."],
        attachments=[att("Grüße.pdf", "application/pdf", data)],
    )


@case("filename-rfc2231-continuation.eml")
def _rfc2231_continuation() -> tuple[bytes, Expected]:
    data = docx("Angebot Köln")
    raw = raw_mail(
        [
            *common("Angebot", "f2@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="cont"',
        ],
        multipart(
            "cont",
            [
                part(["Content-Type: text/plain; charset=utf-8"], "Anbei das Angebot.\n"),
                part(
                    [
                        "Content-Type: "
                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                        "Content-Transfer-Encoding: base64",
                        "Content-Disposition: attachment;\n filename*0*=UTF-8''Angebot%20K%C3%B6ln%20;\n"
                        " filename*1*=2026%20%E2%80%93%20final.docx",
                    ],
                    b64(data),
                ),
            ],
        ),
    )
    return raw, expect(
        "Angebot",
        language="de",
        attachments=[
            att(
                "Angebot Köln 2026 – final.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                data,
            )
        ],
    )


@case("filename-rfc2047-outlook.eml")
def _rfc2047_filenames() -> tuple[bytes, Expected]:
    csv = "Position;Maß;Preis\n1;850 mm;1.250 €\n".encode()
    report = pdf("Pruefbericht")
    raw = raw_mail(
        [
            *common("Unterlagen", "f3@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="_002_outlook_"',
        ],
        multipart(
            "_002_outlook_",
            [
                part(["Content-Type: text/plain; charset=utf-8"], "Unterlagen anbei.\n"),
                part(
                    [
                        'Content-Type: text/csv; name="=?utf-8?B?w5xiZXJzaWNodCBNYcOfZS5jc3Y=?="',
                        "Content-Description: =?utf-8?B?w5xiZXJzaWNodCBNYcOfZS5jc3Y=?=",
                        "Content-Disposition: attachment;\n "
                        'filename="=?utf-8?B?w5xiZXJzaWNodCBNYcOfZS5jc3Y=?=";'
                        " size=40",
                        "Content-Transfer-Encoding: base64",
                    ],
                    b64(csv),
                ),
                part(
                    [
                        'Content-Type: application/pdf;\n name="=?iso-8859-1?Q?Pr=FCfbericht_?= '
                        '=?iso-8859-1?Q?K=F6ln.pdf?="',
                        'Content-Disposition: attachment;\n filename="=?iso-8859-1?Q?Pr=FCfbericht_?= '
                        '=?iso-8859-1?Q?K=F6ln.pdf?="',
                        "Content-Transfer-Encoding: base64",
                    ],
                    b64(report),
                ),
            ],
        ),
    )
    return raw, expect(
        "Unterlagen",
        language="de",
        attachments=[
            att("Übersicht Maße.csv", "text/csv", csv),
            att("Prüfbericht Köln.pdf", "application/pdf", report),
        ],
    )


# ---------------------------------------------------------------------------------------------
# format=flowed


@case("flowed-plain.eml")
def _flowed() -> tuple[bytes, Expected]:
    body = (
        "Hallo Team,\n\nich wollte kurz Bescheid geben, dass die Lieferung \nfür den Kunden in Köln sich um "
        "zwei Tage \nverschiebt.\n\n-- \nJürgen Müller\nVertrieb Nordwind\n"
    )
    raw = raw_mail(
        [
            *common("Lieferung verschoben", "fl1@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8; format=flowed",
            "Content-Transfer-Encoding: 8bit",
        ],
        body,
    )
    sentence = (
        "ich wollte kurz Bescheid geben, dass die Lieferung für den Kunden in Köln sich um zwei Tage "
        "verschiebt."
    )
    return raw, expect(
        "Lieferung verschoben",
        language="de",
        body_contains=[sentence],
        visible_contains=[sentence],
        visible_not_contains=["Vertrieb Nordwind"],
        folded_contains=["Vertrieb Nordwind"],
    )


@case("flowed-delsp.eml")
def _flowed_delsp() -> tuple[bytes, Expected]:
    body = (
        "Die Donaudampfschiff \nfahrtsgesellschaft meldet eine sehr  \nlange Zeile ohne Umbruch.\nNeue "
        "Zeile.\n"
    )
    raw = raw_mail(
        [
            *common("DelSp", "fl2@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: text/plain; charset="utf-8"; format="flowed"; delsp="yes"',
            "Content-Transfer-Encoding: 8bit",
        ],
        body,
    )
    return raw, expect(
        "DelSp",
        language="de",
        body_contains=[
            "Die Donaudampfschifffahrtsgesellschaft meldet eine sehr lange Zeile ohne Umbruch.\nNeue Zeile."
        ],
    )


@case("flowed-quoted.eml")
def _flowed_quoted() -> tuple[bytes, Expected]:
    body = (
        "Ja, das klappt. \nWir liefern am Donnerstag.\n\n From the warehouse: all set.\n\n"
        "Am 24.11.2026 um 10:15 schrieb Jane Doe:\n"
        "> Könnt ihr die 40 Stück bis \n> Freitag liefern?\n>\n>> Ursprünglich war \n>> Mittwoch geplant.\n"
    )
    raw = raw_mail(
        [
            *common(
                "Re: Liefertermin",
                "fl3@nordwind.example",
                extra=["In-Reply-To: <jane-1@pennine-foods.example>"],
            ),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8; format=flowed",
            "Content-Transfer-Encoding: 8bit",
        ],
        body,
    )
    return raw, expect(
        "Re: Liefertermin",
        language="de",
        body_contains=[
            "Ja, das klappt. Wir liefern am Donnerstag.",
            "\nFrom the warehouse: all set.",
            "> Könnt ihr die 40 Stück bis Freitag liefern?",
            ">> Ursprünglich war Mittwoch geplant.",
        ],
        visible_contains=["Ja, das klappt. Wir liefern am Donnerstag.", "From the warehouse: all set."],
        visible_not_contains=["Könnt ihr"],
        folded_contains=[
            "Am 24.11.2026 um 10:15 schrieb Jane Doe:",
            "> Könnt ihr die 40 Stück bis Freitag liefern?",
        ],
    )


# ---------------------------------------------------------------------------------------------
# HTML


NEWSLETTER = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Newsletter 11/2026 Geheimtitel</title>
<style>body { font-family: Arial; } .hidden { display: none; }</style>
<script type="text/javascript">document.write('tracking-script'); var secret = 1;</script>
<link rel="stylesheet" href="https://cdn.nordwind-news.example/style.css">
</head>
<body>
<table width="600" cellpadding="0" cellspacing="0" border="0" align="center">
<tr><td><img src="https://cdn.nordwind-news.example/logo.png" alt="Nordwind Logo"
 width="200" height="60"></td></tr>
<tr><td>
<h1>Neuigkeiten im November</h1>
<p>Unser neues <b>Förderband FB-300</b> ist da.</p>
<p><a
 href="https://shop.nordwind.example/fb-300?utm_source=newsletter&amp;utm_medium=email">Jetzt ansehen</a></p>
<p><a href="javascript:alert(document.cookie)">Gutschein sichern</a> |
<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">Details</a></p>
<p><img src="https://cdn.nordwind-news.example/fb300.jpg" alt="Foto FB-300"></p>
</td></tr>
<tr><td>
<table><tr><th>Modell</th><th>Preis</th></tr>
<tr><td>FB-200</td><td>12.500 €</td></tr>
<tr><td>FB-300</td><td>14.900 €</td></tr></table>
</td></tr>
</table>
<img src="https://track.nordwind-news.example/open.gif?id=8f3a9c" width="1" height="1" alt=""
 style="display:block">
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" width="1" height="1">
<p style="font-size:10px">Abmelden:
<a href="https://nordwind-news.example/unsubscribe?u=42">hier klicken</a></p>
</body></html>
"""


@case("html-newsletter-only.eml")
def _newsletter() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            "From: Nordwind News <news@nordwind-news.example>",
            "To: vertrieb@nordwind.example",
            "Subject: Newsletter November",
            f"Date: {DATE}",
            "Message-ID: <h1@nordwind-news.example>",
            "MIME-Version: 1.0",
            "Content-Type: text/html; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
        ],
        quopri.encodestring(NEWSLETTER.encode()),
    )
    return raw, expect(
        "Newsletter November",
        "Nordwind News",
        language="de",
        body_contains=["Unser neues Förderband FB-300 ist da.", "Jetzt ansehen", "14.900 €"],
        body_not_contains=["tracking-script", "font-family", "Geheimtitel", "<"],
        visible_contains=[
            "Neuigkeiten im November",
            "Förderband FB-300",
            "Gutschein sichern",
            "14.900 €",
            "Abmelden",
        ],
        wikitext_contains=[
            "[https://shop.nordwind.example/fb-300?utm_source=newsletter&utm_medium=email Jetzt ansehen]",
            "'''Neuigkeiten im November'''",
            '{| class="wikitable"',
        ],
        wikitext_not_contains=[
            "track.nordwind-news.example",
            "cdn.nordwind-news.example",
            "alert",
            "PHNjcmlwdD5",
            "R0lGOD",
            "tracking-script",
            "font-family",
            "Geheimtitel",
        ],
        folded=False,
    )


@case("html-alternative-both-parts.eml")
def _alternative() -> tuple[bytes, Expected]:
    message = EmailMessage()
    message["From"] = JM
    message["To"] = TEAM
    message["Subject"] = "Messe: Ablauf"
    message["Date"] = DATE
    message["Message-ID"] = "<h2@nordwind.example>"
    message.set_content("Hallo,\n\n*Wichtig*: Die Messe beginnt um 9 Uhr.\n\n- Stand A12\n- Halle 3\n")
    message.add_alternative(
        "<html><body><p>Hallo,</p><p><b>Wichtig</b>: Die Messe beginnt um <i>9 Uhr</i>.</p>"
        "<ul><li>Stand A12</li><li>Halle 3<ul><li>Eingang Nord</li></ul></li></ul>"
        "<ol><li>Aufbau</li><li>Abbau</li></ol></body></html>\n",
        subtype="html",
    )
    return finish(message), expect(
        "Messe: Ablauf",
        language="de",
        body_contains=["*Wichtig*: Die Messe beginnt um 9 Uhr."],
        body_not_contains=["<b>"],
        visible_contains=["Die Messe beginnt um", "Eingang Nord"],
        wikitext_contains=["'''Wichtig'''", "''9 Uhr''", "* Stand A12", "** Eingang Nord", "# Aufbau"],
    )


@case("html-only-meta-charset-latin1.eml")
def _html_meta_charset() -> tuple[bytes, Expected]:
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"></head>'
        "<body><p>Grüße aus Köln,</p><p>die Maße stimmen.</p></body></html>\n"
    )
    raw = raw_mail(
        [
            *common("=?utf-8?q?Ma=C3=9Fe?=", "h3@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/html",
            "Content-Transfer-Encoding: 8bit",
        ],
        html.encode("latin-1"),
    )
    return raw, expect(
        "Maße",
        language="de",
        body_contains=["Grüße aus Köln,", "die Maße stimmen."],
        visible_contains=["Grüße aus Köln,", "die Maße stimmen."],
    )


@case("html-wiki-markup-text.eml")
def _html_markup() -> tuple[bytes, Expected]:
    html = (
        "<html><body><p>{{Löschen}} [[Hauptseite]] ~~~~ __NOTOC__ "
        "&lt;script&gt;alert(1)&lt;/script&gt; ''kursiv'' {{#invoke:X|y}}</p>"
        "<pre>  {| class=wikitable\n|}\n== Überschrift ==\n</pre>"
        "<p>Code: <code>{{subst:PAGENAME}}</code></p><h2>== Titel ==</h2>"
        "<p>ISBN 978-3-16-148410-0 und RFC 2822 und PMID 12345</p></body></html>\n"
    )
    raw = raw_mail(
        [
            *common("Vorlage im HTML", "h4@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/html; charset=utf-8",
        ],
        html,
    )
    return raw, expect(
        "Vorlage im HTML",
        language="de",
        visible_contains=[
            "{{Löschen}} [[Hauptseite]] ~~~~ __NOTOC__",
            "<script>alert(1)</script>",
            "{{subst:PAGENAME}}",
        ],
        wikitext_not_contains=["ISBN 978", "RFC 2822", "PMID 12345", "\n=="],
    )


@case("html-applemail-parts-around-image.eml")
def _apple_parts() -> tuple[bytes, Expected]:
    image = png(40, 30, (200, 30, 30))
    raw = raw_mail(
        [
            *common("Foto vom Aufbau", "h5@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: multipart/alternative; boundary="Apple-Mail=_A1"',
        ],
        multipart(
            "Apple-Mail=_A1",
            [
                part(
                    ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"],
                    "Vorher:\n\nNachher: fertig aufgebaut.\n",
                ),
                part(
                    ['Content-Type: multipart/mixed; boundary="Apple-Mail=_B2"'],
                    multipart(
                        "Apple-Mail=_B2",
                        [
                            part(
                                ["Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit"],
                                "<html><body><div>Vorher:</div><div></div></body></html>",
                            ),
                            part(
                                [
                                    'Content-Type: image/png; name="Aufbau.png"',
                                    'Content-Disposition: inline; filename="Aufbau.png"',
                                    "Content-Transfer-Encoding: base64",
                                ],
                                b64(image),
                            ),
                            part(
                                ["Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit"],
                                "<html><body><div></div><div>Nachher: fertig aufgebaut.</div></body></html>",
                            ),
                        ],
                    ),
                ),
            ],
        ),
    )
    return raw, expect(
        "Foto vom Aufbau",
        language="de",
        visible_contains=["Vorher:", "Nachher: fertig aufgebaut."],
        attachments=[att("Aufbau.png", "image/png", image)],
    )


@case("html-empty-html-falls-back-to-plain.eml")
def _empty_html() -> tuple[bytes, Expected]:
    message = EmailMessage()
    message["From"] = JM
    message["To"] = TEAM
    message["Subject"] = "Nur Text"
    message["Date"] = DATE
    message["Message-ID"] = "<h6@nordwind.example>"
    message.set_content("Nur Text hier, das HTML ist leer.\n")
    message.add_alternative(
        '<html><body><div><br></div><img src="https://t.example/p.gif"></body></html>\n', subtype="html"
    )
    return finish(message), expect(
        "Nur Text",
        language="de",
        visible_contains=["Nur Text hier, das HTML ist leer."],
        wikitext_not_contains=["t.example"],
    )


@case("html-hostile-links.eml")
def _hostile_links() -> tuple[bytes, Expected]:
    html = (
        "<html><body>"
        '<p><a href="JaVaScRiPt:alert(1)">eins</a> <a href=" &#106;avascript:alert(2)">zwei</a> '
        '<a href="java&#x09;script:alert(3)">drei</a> <a href="vbscript:msgbox(4)">vier</a> '
        '<a href="file:///etc/passwd">fünf</a> <a href="ftp://files.example/x">sechs</a></p>'
        '<p><a href="mailto:juergen.mueller@nordwind.example?subject=Hallo%20Welt">Mail an Jürgen</a></p>'
        '<p><a href="https://wiki.example/__NOTOC__/{{Vorlage}}/a]b|c~~~~">sieben</a></p>'
        '<p><a href="https://nordwind.example/katalog">https://nordwind.example/katalog</a></p>'
        '<p><a href="https://nordwind.example/x" onclick="alert(5)" '
        'style="background:url(javascript:alert(6))">acht</a></p>'
        '<p><a href="data:text/html,&lt;script&gt;alert(7)&lt;/script&gt;">neun</a></p>'
        "</body></html>\n"
    )
    raw = raw_mail(
        [
            *common("Links", "h7@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/html; charset=utf-8",
        ],
        html,
    )
    return raw, expect(
        "Links",
        language="de",
        visible_contains=[
            "eins",
            "zwei",
            "drei",
            "vier",
            "fünf",
            "sechs",
            "sieben",
            "acht",
            "neun",
            "Mail an Jürgen",
        ],
        wikitext_contains=[
            "[mailto:juergen.mueller@nordwind.example?subject=Hallo%20Welt Mail an Jürgen]",
            "https://nordwind.example/katalog",
        ],
        wikitext_not_contains=["alert", "msgbox", "file:", "/etc/passwd", "{{Vorlage}}", "onclick"],
    )


@case("html-hostile-elements.eml")
def _hostile_elements() -> tuple[bytes, Expected]:
    html = (
        '<html><head><base href="https://evil.example/"><meta http-equiv="refresh" '
        'content="0;url=https://evil.example/">'
        '</head><body onload="alert(1)">'
        "<p>Sichtbarer Text vor dem Formular.</p>"
        '<form action="https://evil.example/login"><input name="password" value="Passwort-Feld"></form>'
        '<iframe src="https://evil.example/frame">Iframe-Inhalt</iframe>'
        '<object data="https://evil.example/x.swf">Objekt-Inhalt</object>'
        '<svg onload="alert(2)"><text>SVG-Text</text></svg>'
        '<img src="x" onerror="alert(3)">'
        '<div style="background:url(javascript:alert(4))">Sichtbarer Text im Div.</div>'
        "<noscript>Noscript-Inhalt</noscript>"
        "<template><p>Template-Inhalt</p></template>"
        "<SCRIPT>alert(5)</SCRIPT><StYlE>p{color:red}</StYlE>"
        "<math><mi>x</mi></math>"
        '<a href="https://nordwind.example/"><img src="https://evil.example/tracker.png" alt="Bild-Link"></a>'
        "</body></html>\n"
    )
    raw = raw_mail(
        [
            *common("Formular", "h8@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/html; charset=utf-8",
        ],
        html,
    )
    return raw, expect(
        "Formular",
        language="de",
        visible_contains=["Sichtbarer Text vor dem Formular.", "Sichtbarer Text im Div."],
        wikitext_not_contains=[
            "evil.example",
            "alert",
            "Passwort-Feld",
            "Iframe-Inhalt",
            "Objekt-Inhalt",
            "Noscript-Inhalt",
            "Template-Inhalt",
            "color:red",
            "onerror",
        ],
    )


# ---------------------------------------------------------------------------------------------
# Replies


OUTLOOK_DE_OLD = (
    "Sehr geehrter Herr Müller,\n\ndie Übergabehöhe beträgt 850 mm.\n\nMit freundlichen Grüßen\nRüdiger "
    "Weiß\n"
)


@case("reply-outlook-de-separator.eml")
def _outlook_de() -> tuple[bytes, Expected]:
    body = (
        "Hallo Herr Weiß,\n\ndie Maße passen, wir bestellen zwei Stück.\n\nMit freundlichen Grüßen\nJürgen "
        "Müller\n\n"
        "-----Ursprüngliche Nachricht-----\nVon: Rüdiger Weiß <r.weiss@lieferant.example>\n"
        "Gesendet: Dienstag, 24. November 2026 10:15\nAn: Jürgen Müller <juergen.mueller@nordwind.example>\n"
        "Betreff: Übergabehöhe Förderband\n\n" + OUTLOOK_DE_OLD
    )
    message = simple("AW: Übergabehöhe Förderband", "r1@nordwind.example", body)
    message["In-Reply-To"] = "<c2@lieferant.example>"
    return finish(message), expect(
        "AW: Übergabehöhe Förderband",
        language="de",
        references=["c2@lieferant.example"],
        visible_contains=["die Maße passen, wir bestellen zwei Stück."],
        visible_not_contains=["die Übergabehöhe beträgt 850 mm", "Ursprüngliche Nachricht"],
        folded_contains=[
            "-----Ursprüngliche Nachricht-----",
            "Gesendet: Dienstag, 24. November 2026 10:15",
            "die Übergabehöhe beträgt 850 mm.",
        ],
    )


@case("reply-outlook-de-header-block.eml")
def _outlook_de_block() -> tuple[bytes, Expected]:
    body = (
        "Passt, danke!\n\nViele Grüße\nJürgen\n\n"
        "Von: Rüdiger Weiß <r.weiss@lieferant.example>\nGesendet: Dienstag, 24. November 2026 10:15\n"
        "An: Jürgen Müller <juergen.mueller@nordwind.example>\nCc: Vertrieb <vertrieb@nordwind.example>\n"
        "Betreff: Übergabehöhe Förderband\n\n" + OUTLOOK_DE_OLD
    )
    return finish(simple("AW: Übergabehöhe Förderband", "r2@nordwind.example", body)), expect(
        "AW: Übergabehöhe Förderband",
        language="de",
        visible_contains=["Passt, danke!"],
        visible_not_contains=["850 mm", "Gesendet:"],
        folded_contains=["Von: Rüdiger Weiß", "die Übergabehöhe beträgt 850 mm."],
    )


@case("reply-outlook-en-rule.eml")
def _outlook_en() -> tuple[bytes, Expected]:
    body = (
        "Thanks Jane, confirmed for Thursday.\n\nBest regards\nJohn\n\n"
        "________________________________\nFrom: Jane Doe <jane.doe@pennine-foods.example>\n"
        "Sent: Tuesday, November 24, 2026 10:15 AM\nTo: John Smith <john.smith@nordwind.example>\n"
        "Subject: Delivery date\n\nHi John,\ncan you confirm Thursday for the delivery?\n\nJane\n"
    )
    message = simple(
        "RE: Delivery date", "r3@nordwind.example", body, sender="John Smith <john.smith@nordwind.example>"
    )
    return finish(message), expect(
        "RE: Delivery date",
        "John Smith",
        visible_contains=["Thanks Jane, confirmed for Thursday."],
        visible_not_contains=["can you confirm Thursday", "________"],
        folded_contains=[
            "Sent: Tuesday, November 24, 2026 10:15 AM",
            "can you confirm Thursday for the delivery?",
        ],
    )


@case("reply-outlook-en-original-message.eml")
def _outlook_en_original() -> tuple[bytes, Expected]:
    body = (
        "Approved.\n\n-----Original Message-----\nFrom: Jane Doe [mailto:jane.doe@pennine-foods.example]\n"
        "Sent: Tuesday, November 24, 2026 10:15 AM\nTo: John Smith\nSubject: Budget\n\n"
        "Please approve the budget of 12,500 EUR.\n"
    )
    message = simple(
        "RE: Budget", "r4@nordwind.example", body, sender="John Smith <john.smith@nordwind.example>"
    )
    return finish(message), expect(
        "RE: Budget",
        "John Smith",
        visible_contains=["Approved."],
        visible_not_contains=["12,500 EUR"],
        folded_contains=["-----Original Message-----", "Please approve the budget of 12,500 EUR."],
    )


@case("reply-thunderbird-de.eml")
def _thunderbird_de() -> tuple[bytes, Expected]:
    body = (
        "Hallo Jürgen,\n\ndanke, das passt so. Wir nehmen das Angebot an.\n\nAnna\n\n"
        "Am 24.11.2026 um 10:15 schrieb Jürgen Müller:\n> Hallo Anna,\n>\n> anbei das Angebot für Köln.\n>\n"
        "> -- \n> Jürgen Müller\n> Vertrieb\n"
    )
    message = simple("Re: Angebot Köln", "r5@kunde.example", body, sender="Anna Schmidt <anna@kunde.example>")
    return finish(message), expect(
        "Re: Angebot Köln",
        "Anna Schmidt",
        language="de",
        visible_contains=["danke, das passt so. Wir nehmen das Angebot an."],
        visible_not_contains=["anbei das Angebot für Köln", "schrieb"],
        folded_contains=["Am 24.11.2026 um 10:15 schrieb Jürgen Müller:", "> anbei das Angebot für Köln."],
    )


@case("reply-kmail-de-wrapped-attribution.eml")
def _kmail_wrapped() -> tuple[bytes, Expected]:
    body = (
        "Erledigt.\n\nAm Dienstag, 24. November 2026, 10:15:03 CET schrieb Jürgen Müller\n"
        "<juergen.mueller@nordwind.example>:\n> Bitte die Rechnung 4711 prüfen.\n"
    )
    message = simple(
        "Re: Rechnung 4711", "r6@kunde.example", body, sender="Anna Schmidt <anna@kunde.example>"
    )
    return finish(message), expect(
        "Re: Rechnung 4711",
        "Anna Schmidt",
        language="de",
        visible_contains=["Erledigt."],
        visible_not_contains=["Bitte die Rechnung", "schrieb"],
        folded_contains=["> Bitte die Rechnung 4711 prüfen."],
    )


@case("reply-thunderbird-en.eml")
def _thunderbird_en() -> tuple[bytes, Expected]:
    body = (
        "Hi John,\n\nThursday works for us.\n\nJane\n\nOn 11/24/26 10:15 AM, John Smith wrote:\n"
        "> Hi Jane,\n>\n> would Thursday work for the plant visit?\n>\n> John\n"
    )
    message = simple("Re: Plant visit", "r7@pennine-foods.example", body, sender=JANE)
    return finish(message), expect(
        "Re: Plant visit",
        "Jane Doe",
        visible_contains=["Thursday works for us."],
        visible_not_contains=["would Thursday work"],
        folded_contains=[
            "On 11/24/26 10:15 AM, John Smith wrote:",
            "> would Thursday work for the plant visit?",
        ],
    )


@case("reply-french-attribution.eml")
def _french() -> tuple[bytes, Expected]:
    body = (
        "D'accord pour jeudi.\n\nLe mar. 24 nov. 2026 à 10:15, Jürgen Müller "
        "<juergen.mueller@nordwind.example> a écrit :\n"
        "> Est-ce que jeudi vous convient ?\n"
    )
    message = simple(
        "Re: Rendez-vous", "r8@client.example", body, sender="Claire Martin <claire@client.example>"
    )
    return finish(message), expect(
        "Re: Rendez-vous",
        "Claire Martin",
        visible_contains=["D'accord pour jeudi."],
        visible_not_contains=["Est-ce que jeudi"],
        folded_contains=["> Est-ce que jeudi vous convient ?"],
    )


@case("reply-gmail-html.eml")
def _gmail() -> tuple[bytes, Expected]:
    message = EmailMessage()
    message["From"] = "John Smith <john.smith@nordwind.example>"
    message["To"] = JANE
    message["Subject"] = "Re: Plant visit"
    message["Date"] = DATE
    message["Message-ID"] = "<CAF=r9+gmail@mail.gmail.example>"
    message["In-Reply-To"] = "<r7@pennine-foods.example>"
    message["References"] = "<r7@pennine-foods.example>"
    message.set_content(
        "Sounds good! See you on Thursday.\n\n-- \nJohn Smith\nNordwind\n\n"
        "On Tue, Nov 24, 2026 at 10:15 AM Jane Doe <jane.doe@pennine-foods.example> wrote:\n\n"
        "> Can we meet on Thursday at the plant?\n>\n"
    )
    message.add_alternative(
        '<div dir="ltr">Sounds good! See you on Thursday.<br clear="all"><div><br></div><span '
        'class="gmail_signature_prefix">-- </span><br>'
        '<div dir="ltr" class="gmail_signature" data-smartmail="gmail_signature"><div dir="ltr">John '
        "Smith<br>Nordwind</div></div></div>"
        '<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Tue, Nov 24, 2026 at 10:15 AM '
        "Jane Doe &lt;"
        '<a href="mailto:jane.doe@pennine-foods.example">jane.doe@pennine-foods.example</a>&gt; '
        "wrote:<br></div>"
        '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid '
        'rgb(204,204,204);padding-left:1ex">'
        '<div dir="ltr">Can we meet on Thursday at the plant?</div></blockquote></div>\n',
        subtype="html",
    )
    return finish(message), expect(
        "Re: Plant visit",
        "John Smith",
        references=["r7@pennine-foods.example"],
        visible_contains=["Sounds good! See you on Thursday."],
        visible_not_contains=["Can we meet on Thursday", "Nordwind"],
        folded_contains=["Can we meet on Thursday at the plant?", "wrote:"],
    )


@case("reply-apple-mail-macos.eml")
def _apple_macos() -> tuple[bytes, Expected]:
    html = (
        '<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head>'
        '<body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; line-break: after-white-space;">'
        '<div>Danke, ist notiert.</div><div><br></div><div><div><blockquote type="cite">'
        "<div>On 24. Nov 2026, at 10:15, Jane Doe &lt;jane.doe@pennine-foods.example&gt; wrote:</div>"
        '<br class="Apple-interchange-newline"><div><div>Please note the new delivery address: Unit 4, '
        "Leeds Road.</div>"
        "</div></blockquote></div><br></div></body></html>"
    )
    raw = raw_mail(
        [
            *common(
                "Re: New address", "r10@nordwind.example", sender="John Smith <john.smith@nordwind.example>"
            ),
            "MIME-Version: 1.0",
            'Content-Type: multipart/alternative; boundary="Apple-Mail=_C3"',
        ],
        multipart(
            "Apple-Mail=_C3",
            [
                part(
                    ["Content-Transfer-Encoding: 7bit", "Content-Type: text/plain; charset=us-ascii"],
                    "Danke, ist notiert.\n\n> On 24. Nov 2026, at 10:15, Jane Doe "
                    "<jane.doe@pennine-foods.example> wrote:\n>\n"
                    "> Please note the new delivery address: Unit 4, Leeds Road.\n",
                ),
                part(["Content-Transfer-Encoding: 7bit", "Content-Type: text/html; charset=us-ascii"], html),
            ],
        ),
    )
    return raw, expect(
        "Re: New address",
        "John Smith",
        visible_contains=["Danke, ist notiert."],
        visible_not_contains=["new delivery address"],
        folded_contains=["Please note the new delivery address: Unit 4, Leeds Road."],
    )


@case("reply-apple-mail-ios.eml")
def _apple_ios() -> tuple[bytes, Expected]:
    html = (
        '<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head><body '
        'dir="auto">'
        'Klingt gut, bis Donnerstag!<br id="lineBreakAtBeginningOfSignature"><div dir="ltr">Von meinem '
        "iPhone gesendet</div>"
        '<div dir="ltr"><br><blockquote type="cite">Am 24.11.2026 um 10:15 schrieb Jane Doe '
        "&lt;jane.doe@pennine-foods.example&gt;:<br><br></blockquote></div>"
        '<blockquote type="cite"><div dir="ltr">Treffen wir uns am Donnerstag im '
        "Werk?</div></blockquote></body></html>"
    )
    raw = raw_mail(
        [
            *common("Re: Treffen", "r11@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/html; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
        ],
        quopri.encodestring(html.encode()),
    )
    return raw, expect(
        "Re: Treffen",
        language="de",
        visible_contains=["Klingt gut, bis Donnerstag!"],
        visible_not_contains=["Treffen wir uns"],
        folded_contains=["Treffen wir uns am Donnerstag im Werk?"],
    )


@case("reply-outlook-desktop-html-de.eml")
def _outlook_html_de() -> tuple[bytes, Expected]:
    html = (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head>'
        '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        "<style><!-- p.MsoNormal {margin:0cm; font-size:11.0pt;} --></style></head>"
        '<body lang="DE" link="#0563C1" vlink="#954F72" style="word-wrap:break-word"><div '
        'class="WordSection1">'
        '<p class="MsoNormal">Hallo Frau Doe,<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p>'
        '<p class="MsoNormal">die Ware ist unterwegs, Sendungsnummer 00340434161094042557.<o:p></o:p></p>'
        '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>'
        '<div><div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
        '<p class="MsoNormal"><b>Von:</b> Jane Doe &lt;jane.doe@pennine-foods.example&gt; <br>'
        "<b>Gesendet:</b> Dienstag, 24. November 2026 10:15<br><b>An:</b> Jürgen Müller "
        "&lt;juergen.mueller@nordwind.example&gt;<br><b>Betreff:</b> Lieferstatus<o:p></o:p></p></div></div>"
        '<p class="MsoNormal"><o:p>&nbsp;</o:p></p><p class="MsoNormal">Wo bleibt unsere Ware?<o:p></o:p></p>'
        "</div></body></html>"
    )
    message = EmailMessage()
    message["From"] = JM
    message["To"] = JANE
    message["Subject"] = "AW: Lieferstatus"
    message["Date"] = DATE
    message["Message-ID"] = "<r12@nordwind.example>"
    message["Thread-Index"] = base64.b64encode(blob("thread-index", 27)).decode()
    message.set_content(
        "Hallo Frau Doe,\n\ndie Ware ist unterwegs, Sendungsnummer 00340434161094042557.\n\n"
        "Von: Jane Doe <jane.doe@pennine-foods.example>\nGesendet: Dienstag, 24. November 2026 10:15\n"
        "An: Jürgen Müller <juergen.mueller@nordwind.example>\nBetreff: Lieferstatus\n\nWo bleibt unsere "
        "Ware?\n"
    )
    message.add_alternative(html, subtype="html")
    return finish(message), expect(
        "AW: Lieferstatus",
        language="de",
        visible_contains=["die Ware ist unterwegs, Sendungsnummer 00340434161094042557."],
        visible_not_contains=["Wo bleibt unsere Ware?", "Gesendet"],
        folded_contains=["Wo bleibt unsere Ware?", "Gesendet:"],
        wikitext_not_contains=["o:p", "MsoNormal"],
    )


@case("reply-outlook-web-html-en.eml")
def _outlook_web() -> tuple[bytes, Expected]:
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body '
        'dir="ltr">'
        '<div class="elementToProof" style="font-family: Aptos, sans-serif; font-size: 12pt">Confirmed, see '
        "you Thursday.</div>"
        '<div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1">'
        '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt" '
        'color="#000000">'
        "<b>From:</b> Jane Doe &lt;jane.doe@pennine-foods.example&gt;<br><b>Sent:</b> Tuesday, November 24, "
        "2026 10:15 AM<br>"
        "<b>To:</b> John Smith &lt;john.smith@nordwind.example&gt;<br><b>Subject:</b> Plant "
        "visit</font><div>&nbsp;</div></div>"
        '<div dir="ltr"><p>Could we visit the plant on Thursday?</p></div></body></html>'
    )
    raw = raw_mail(
        [
            *common(
                "RE: Plant visit", "r13@nordwind.example", sender="John Smith <john.smith@nordwind.example>"
            ),
            "MIME-Version: 1.0",
            "Content-Type: text/html; charset=utf-8",
            "Content-Transfer-Encoding: base64",
        ],
        b64(html.encode()),
    )
    return raw, expect(
        "RE: Plant visit",
        "John Smith",
        visible_contains=["Confirmed, see you Thursday."],
        visible_not_contains=["Could we visit the plant", "Sent:"],
        folded_contains=["Could we visit the plant on Thursday?", "Sent:"],
    )


@case("reply-signature-only.eml")
def _signature() -> tuple[bytes, Expected]:
    body = (
        "Die Zeichnung kommt morgen.\n\n-- \nJürgen Müller\nVertrieb | Nordwind Anlagenbau GmbH\nTel. +49 "
        "221 555-0\n"
    )
    return finish(simple("Zeichnung", "r14@nordwind.example", body)), expect(
        "Zeichnung",
        language="de",
        visible_contains=["Die Zeichnung kommt morgen."],
        visible_not_contains=["Tel. +49 221 555-0", "Vertrieb | Nordwind"],
        folded_contains=["Vertrieb | Nordwind Anlagenbau GmbH", "Tel. +49 221 555-0"],
    )


@case("reply-interleaved-attribution-en.eml")
def _interleaved_en() -> tuple[bytes, Expected]:
    body = (
        "Hi Jane,\n\nOn 11/24/26 10:15 AM, Jane Doe wrote:\n> Can you ship 40 units by Friday?\n\n"
        "Yes, 40 units will ship on Thursday.\n\n> And what about the spare parts?\n\n"
        "The spare parts follow next week.\n\nBest regards,\nJohn\n"
    )
    message = simple(
        "Re: Order 4711", "r15@nordwind.example", body, sender="John Smith <john.smith@nordwind.example>"
    )
    return finish(message), expect(
        "Re: Order 4711",
        "John Smith",
        visible_contains=["Yes, 40 units will ship on Thursday.", "The spare parts follow next week."],
        page_contains=["Can you ship 40 units by Friday?", "And what about the spare parts?"],
    )


@case("reply-interleaved-no-attribution-de.eml")
def _interleaved_de() -> tuple[bytes, Expected]:
    body = (
        "> Können Sie bis Freitag 40 Stück liefern?\nJa, am Donnerstag.\n\n> Und die Ersatzteile?\n"
        "Kommen nächste Woche.\n\n-- \nJürgen Müller\nVertrieb\n"
    )
    return finish(simple("AW: Bestellung 4711", "r16@nordwind.example", body)), expect(
        "AW: Bestellung 4711",
        language="de",
        visible_contains=["Ja, am Donnerstag.", "Kommen nächste Woche.", "> Und die Ersatzteile?"],
        visible_not_contains=["Vertrieb"],
        folded_contains=["Vertrieb"],
    )


@case("reply-interleaved-html-thunderbird.eml")
def _interleaved_html() -> tuple[bytes, Expected]:
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"></head><body>'
        "<p>Hi Jane,</p>"
        '<div class="moz-cite-prefix">On 11/24/26 10:15 AM, Jane Doe wrote:<br></div>'
        '<blockquote type="cite" cite="mid:q1@pennine-foods.example"><p>Can you ship 40 units by '
        "Friday?</p></blockquote>"
        "<p>Yes, 40 units will ship on Thursday.</p>"
        '<blockquote type="cite"><p>And what about the spare parts?</p></blockquote>'
        "<p>The spare parts follow next week.</p><p>Best regards,<br>John</p></body></html>"
    )
    raw = raw_mail(
        [
            *common(
                "Re: Order 4711", "r17@nordwind.example", sender="John Smith <john.smith@nordwind.example>"
            ),
            "MIME-Version: 1.0",
            "Content-Type: text/html; charset=UTF-8",
        ],
        html,
    )
    return raw, expect(
        "Re: Order 4711",
        "John Smith",
        visible_contains=["Yes, 40 units will ship on Thursday.", "The spare parts follow next week."],
        page_contains=["Can you ship 40 units by Friday?", "And what about the spare parts?"],
    )


@case("reply-top-posting-full-history.eml")
def _top_posting() -> tuple[bytes, Expected]:
    body = (
        "Alles klar, dann so.\n\nJürgen\n\n> Am 23.11.2026 um 16:02 schrieb Anna Schmidt "
        "<anna@kunde.example>:\n>\n"
        "> Dann nehmen wir Variante B.\n>\n>> Am 23.11.2026 um 09:00 schrieb Jürgen Müller:\n>>\n"
        ">> Variante A oder B?\n"
    )
    return finish(simple("Re: Re: Variante", "r18@nordwind.example", body)), expect(
        "Re: Re: Variante",
        language="de",
        visible_contains=["Alles klar, dann so."],
        visible_not_contains=["Variante B", "Variante A oder B?"],
        folded_contains=["> Dann nehmen wir Variante B.", ">> Variante A oder B?"],
    )


# ---------------------------------------------------------------------------------------------
# Attachments, inline images, forwards


@case("attach-inline-image-related.eml")
def _inline_image() -> tuple[bytes, Expected]:
    logo = png(64, 32, (0, 80, 160))
    message = EmailMessage()
    message["From"] = JM
    message["To"] = TEAM
    message["Subject"] = "Neues Logo"
    message["Date"] = DATE
    message["Message-ID"] = "<a1@nordwind.example>"
    message.set_content("Hier das neue Logo:\n[Firmenlogo]\nWie findet ihr es?\n")
    message.add_alternative(
        '<html><body><p>Hier das neue Logo:</p><p><img src="cid:logo.2026@nordwind.example" '
        'alt="Firmenlogo"></p>'
        "<p>Wie findet ihr es?</p></body></html>\n",
        subtype="html",
    )
    html_part = message.get_body(("html",))
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(
        logo,
        maintype="image",
        subtype="png",
        cid="<logo.2026@nordwind.example>",
        filename="logo.png",
        disposition="inline",
    )
    return finish(message), expect(
        "Neues Logo",
        language="de",
        attachments=[att("logo.png", "image/png", logo, content_id="logo.2026@nordwind.example")],
        inline_images=["logo.png"],
        visible_contains=["Hier das neue Logo:", "Wie findet ihr es?"],
    )


@case("attach-inline-image-outlook.eml")
def _inline_outlook() -> tuple[bytes, Expected]:
    image = png(120, 40, (10, 10, 10))
    html = (
        '<html><body><div class="WordSection1"><p class="MsoNormal">Siehe Screenshot:</p>'
        '<p class="MsoNormal"><img width="120" height="40" style="width:1.25in" id="Picture_x0020_1" '
        'src="cid:image001.png@01DB3E8F.5A7C3B20" alt="Screenshot Fehler"></p>'
        '<p class="MsoNormal">Fehlercode E-42.</p></div></body></html>'
    )
    raw = raw_mail(
        [
            *common("Fehler E-42", "a2@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: multipart/related; boundary="_004_related_"; type="multipart/alternative"',
        ],
        multipart(
            "_004_related_",
            [
                part(
                    ['Content-Type: multipart/alternative; boundary="_000_alt_"'],
                    multipart(
                        "_000_alt_",
                        [
                            part(
                                ["Content-Type: text/plain; charset=utf-8"],
                                "Siehe Screenshot:\n[cid:image001.png@01DB3E8F.5A7C3B20]\nFehlercode E-42.\n",
                            ),
                            part(["Content-Type: text/html; charset=utf-8"], html),
                        ],
                    ),
                ),
                part(
                    [
                        'Content-Type: image/png; name="image001.png"',
                        "Content-Description: image001.png",
                        'Content-Disposition: inline; filename="image001.png"; size=1234',
                        "Content-ID: <image001.png@01DB3E8F.5A7C3B20>",
                        "Content-Transfer-Encoding: base64",
                    ],
                    b64(image),
                ),
            ],
        ),
    )
    return raw, expect(
        "Fehler E-42",
        language="de",
        attachments=[
            att("image001.png", "image/png", image, content_id="image001.png@01DB3E8F.5A7C3B20", inline=True)
        ],
        inline_images=["image001.png"],
        visible_contains=["Siehe Screenshot:", "Fehlercode E-42."],
    )


@case("attach-office-files.eml")
def _office_files() -> tuple[bytes, Expected]:
    report = pdf("Angebot 4711", 5000)
    document = docx("Vertrag Köln")
    table = "Artikel;Menge;Preis\nFB-200;2;12.500,00 €\nFB-300;1;14.900,00 €\n".encode()
    photo = png(300, 200, (0, 128, 0))
    message = simple(
        "Unterlagen Auftrag 4711", "a3@nordwind.example", "Anbei alle Unterlagen zum Auftrag 4711.\n"
    )
    message.add_attachment(report, maintype="application", subtype="pdf", filename="Angebot-4711.pdf")
    message.add_attachment(
        document,
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename="Vertrag Köln.docx",
    )
    message.add_attachment(table, maintype="text", subtype="csv", filename="Positionen.csv")
    message.add_attachment(photo, maintype="image", subtype="png", filename="Foto Anlage.png")
    return finish(message), expect(
        "Unterlagen Auftrag 4711",
        language="de",
        body_contains=["Anbei alle Unterlagen zum Auftrag 4711."],
        attachments=[
            att("Angebot-4711.pdf", "application/pdf", report),
            att(
                "Vertrag Köln.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                document,
            ),
            att("Positionen.csv", "text/csv", table),
            att("Foto Anlage.png", "image/png", photo),
        ],
        wikitext_contains=["<gallery", "[[Media:Mail-"],
    )


def _forwarded_inner() -> tuple[bytes, bytes]:
    offer = pdf("Angebot Pennine", 3000)
    inner = EmailMessage()
    inner["From"] = JANE
    inner["To"] = "John Smith <john.smith@nordwind.example>"
    inner["Subject"] = "Angebot 4711"
    inner["Date"] = "Mon, 23 Nov 2026 09:00:00 +0000"
    inner["Message-ID"] = "<inner-4711@pennine-foods.example>"
    inner.set_content("Hi John,\n\nplease find our offer attached.\n\nJane\n")
    inner.add_attachment(offer, maintype="application", subtype="pdf", filename="Offer-Pennine.pdf")
    return finish(inner), offer


@case("forward-rfc822-with-attachment.eml")
def _forward_rfc822() -> tuple[bytes, Expected]:
    inner_raw, offer = _forwarded_inner()
    raw = raw_mail(
        [
            *common("WG: Angebot 4711", "fw1@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="fwd-outer"',
        ],
        multipart(
            "fwd-outer",
            [
                part(["Content-Type: text/plain; charset=utf-8"], "Zur Info, siehe unten.\n"),
                part(
                    [
                        'Content-Type: message/rfc822; name="Angebot 4711.eml"',
                        'Content-Disposition: attachment; filename="Angebot 4711.eml"',
                    ],
                    inner_raw.replace(b"\r\n", b"\n"),
                ),
            ],
        ),
    )
    return raw, expect(
        "WG: Angebot 4711",
        language="de",
        body_contains=["Zur Info, siehe unten."],
        attachments=[],
        forwarded=1,
        forwarded_subjects=["Angebot 4711"],
        forwarded_attachments=[[att("Offer-Pennine.pdf", "application/pdf", offer)]],
        page_contains=["please find our offer attached.", "Offer-Pennine.pdf"],
        wikitext_contains=["Weitergeleitete Nachricht"],
    )


@case("forward-rfc822-two-and-nested.eml")
def _forward_two() -> tuple[bytes, Expected]:
    inner_raw, _ = _forwarded_inner()
    second = raw_mail(
        [
            "From: =?ISO-8859-1?Q?R=FCdiger_Wei=DF?= <r.weiss@lieferant.example>",
            "Subject: =?ISO-8859-1?Q?Lieferverz=F6gerung?=",
            f"Date: {DATE}",
            "Message-ID: <second@lieferant.example>",
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="fwd-second"',
        ],
        multipart(
            "fwd-second",
            [
                part(
                    ["Content-Type: text/plain; charset=iso-8859-1", "Content-Transfer-Encoding: 8bit"],
                    "Die Lieferung verzögert sich.\n".encode("latin-1"),
                ),
                part(["Content-Type: message/rfc822"], inner_raw.replace(b"\r\n", b"\n")),
            ],
        ),
        newline=b"\n",
    )
    raw = raw_mail(
        [
            *common("WG: zwei Mails", "fw2@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="fwd-two"',
        ],
        multipart(
            "fwd-two",
            [
                part(["Content-Type: text/plain; charset=utf-8"], "Beide Mails zur Info.\n"),
                part(["Content-Type: message/rfc822"], inner_raw.replace(b"\r\n", b"\n")),
                part(["Content-Type: message/rfc822"], second),
            ],
        ),
    )
    return raw, expect(
        "WG: zwei Mails",
        language="de",
        forwarded=2,
        forwarded_subjects=["Angebot 4711", "Lieferverzögerung"],
        page_contains=["please find our offer attached.", "Die Lieferung verzögert sich."],
    )


FORWARDED_TEXT = (
    "---------- Forwarded message ---------\nFrom: Jane Doe <jane.doe@pennine-foods.example>\n"
    "Date: Mon, Nov 23, 2026 at 9:00 AM\nSubject: Stand plan\nTo: John Smith "
    "<john.smith@nordwind.example>\n\n\n"
    "Hi John,\n\nthe stand plan for Hannover is final: hall 3, booth A12.\n\nJane\n"
)


@case("forward-inline-gmail-with-note.eml")
def _forward_inline_note() -> tuple[bytes, Expected]:
    body = "FYI – bitte einplanen.\n\n" + FORWARDED_TEXT
    message = simple(
        "Fwd: Stand plan", "fw3@nordwind.example", body, sender="John Smith <john.smith@nordwind.example>"
    )
    return finish(message), expect(
        "Fwd: Stand plan",
        "John Smith",
        language="de",
        visible_contains=["FYI – bitte einplanen."],
        page_contains=["the stand plan for Hannover is final: hall 3, booth A12."],
    )


@case("forward-inline-bare.eml")
def _forward_bare() -> tuple[bytes, Expected]:
    message = simple(
        "Fwd: Stand plan",
        "fw4@nordwind.example",
        FORWARDED_TEXT,
        sender="John Smith <john.smith@nordwind.example>",
    )
    return finish(message), expect(
        "Fwd: Stand plan",
        "John Smith",
        visible_contains=["the stand plan for Hannover is final: hall 3, booth A12.", "Forwarded message"],
        folded=False,
    )


@case("attach-winmail-dat.eml")
def _winmail() -> tuple[bytes, Expected]:
    tnef = b"\x78\x9f\x3e\x22" + blob("tnef", 1500)
    raw = raw_mail(
        [
            *common(
                "Besprechungsnotizen",
                "a5@nordwind.example",
                extra=["X-MS-Has-Attach: yes", "X-MS-TNEF-Correlator: <00000000ABCD@nordwind.example>"],
            ),
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="_tnef_"',
        ],
        multipart(
            "_tnef_",
            [
                part(["Content-Type: text/plain; charset=utf-8"], "Notizen im Anhang.\n"),
                part(
                    [
                        'Content-Type: application/ms-tnef; name="winmail.dat"',
                        'Content-Disposition: attachment; filename="winmail.dat"',
                        "Content-Transfer-Encoding: base64",
                    ],
                    b64(tnef),
                ),
            ],
        ),
    )
    return raw, expect(
        "Besprechungsnotizen",
        attachments=[att("winmail.dat", "application/ms-tnef", tnef)],
        refused={"winmail.dat": "Outlook's private format (winmail.dat)"},
    )


HUGE_SIZE = 26_500_000


@case("attach-huge-video.eml")
def _huge() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            *common("Messevideo", "a6@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="huge"',
        ],
        multipart(
            "huge",
            [
                part(["Content-Type: text/plain; charset=utf-8"], "Das Video vom Messestand (groß).\n"),
                part(
                    [
                        'Content-Type: video/mp4; name="Messevideo.mp4"',
                        'Content-Disposition: attachment; filename="Messevideo.mp4"',
                        "Content-Transfer-Encoding: base64",
                    ],
                    HUGE_MARKER + "\n",
                ),
            ],
        ),
    )
    return raw, expect(
        "Messevideo",
        huge={"marker": HUGE_MARKER, "size": HUGE_SIZE, "seed": "huge-video"},
        attachments=[{"filename": "Messevideo.mp4", "content_type": "video/mp4", "size": HUGE_SIZE}],
        refused={"Messevideo.mp4": "larger than the limit of 25 MB"},
    )


@case("attach-hostile-filenames.eml")
def _hostile_names() -> tuple[bytes, Expected]:
    first = pdf("hostile")
    second = b"just text\n"
    third = png(8, 8, (1, 2, 3))
    message = simple("Dateinamen", "a7@nordwind.example", "Drei Dateien mit seltsamen Namen.\n")
    message.add_attachment(
        first, maintype="application", subtype="pdf", filename="../../{{Vorlage}}[[Hauptseite]]|~~~~.pdf"
    )
    message.add_attachment(second, maintype="text", subtype="plain", filename="<script>alert(1)</script>.txt")
    message.add_attachment(third, maintype="image", subtype="png", filename="__NOTOC__ ''fett'' #x.png")
    return finish(message), expect(
        "Dateinamen",
        language="de",
        attachments=[
            att("../../{{Vorlage}}[[Hauptseite]]|~~~~.pdf", "application/pdf", first),
            att("<script>alert(1)</script>.txt", "text/plain", second),
            att("__NOTOC__ ''fett'' #x.png", "image/png", third),
        ],
    )


@case("attach-nameless-octet-stream.eml")
def _nameless() -> tuple[bytes, Expected]:
    data = blob("nameless", 700)
    raw = raw_mail(
        [
            *common("Datei ohne Namen", "a8@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="nameless"',
        ],
        multipart(
            "nameless",
            [
                part(["Content-Type: text/plain; charset=utf-8"], "Eine Datei ohne Namen.\n"),
                part(
                    ["Content-Type: application/octet-stream", "Content-Transfer-Encoding: base64"], b64(data)
                ),
            ],
        ),
    )
    return raw, expect(
        "Datei ohne Namen",
        language="de",
        attachments=[att("attachment.bin", "application/octet-stream", data)],
    )


@case("attach-text-and-html-files.eml")
def _text_files() -> tuple[bytes, Expected]:
    notes = b"Notizen:\n- Punkt 1\n- Punkt 2\n"
    report = b"<html><body><script>alert(1)</script><p>Bericht</p></body></html>\n"
    raw = raw_mail(
        [
            *common("Notizen und Bericht", "a9@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="files"',
        ],
        multipart(
            "files",
            [
                part(["Content-Type: text/plain; charset=utf-8"], "Zwei Textdateien.\n"),
                part(
                    [
                        'Content-Type: text/plain; charset=utf-8; name="notizen.txt"',
                        'Content-Disposition: inline; filename="notizen.txt"',
                    ],
                    notes,
                ),
                part(
                    [
                        "Content-Type: text/html; charset=utf-8",
                        'Content-Disposition: attachment; filename="bericht.html"',
                    ],
                    report,
                ),
            ],
        ),
    )
    return raw, expect(
        "Notizen und Bericht",
        language="de",
        body_contains=["Zwei Textdateien."],
        body_not_contains=["Punkt 1", "Bericht"],
        attachments=[
            att("notizen.txt", "text/plain", notes.replace(b"\n", b"\r\n")),
            att("bericht.html", "text/html", report.rstrip(b"\n")),
        ],
        refused={"bericht.html": "das Wiki nimmt keine .html-Dateien an"},
    )


@case("attach-inline-image-refused-bmp.eml")
def _inline_bmp() -> tuple[bytes, Expected]:
    bmp = b"BM" + blob("bmp", 600)
    html = (
        '<html><body><p>Diagramm:</p><p><img src="cid:diagramm@nordwind.example" alt="Diagramm '
        'Q4"></p></body></html>'
    )
    raw = raw_mail(
        [
            *common("Diagramm", "a10@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: multipart/related; boundary="bmp"',
        ],
        multipart(
            "bmp",
            [
                part(["Content-Type: text/html; charset=utf-8"], html),
                part(
                    [
                        'Content-Type: image/bmp; name="diagramm.bmp"',
                        "Content-ID: <diagramm@nordwind.example>",
                        "Content-Transfer-Encoding: base64",
                    ],
                    b64(bmp),
                ),
            ],
        ),
    )
    return raw, expect(
        "Diagramm",
        language="de",
        attachments=[att("diagramm.bmp", "image/bmp", bmp, content_id="diagramm@nordwind.example")],
        refused={"diagramm.bmp": "das Wiki nimmt keine .bmp-Dateien an"},
        visible_contains=["Diagramm:", "[Diagramm Q4]"],
        wikitext_not_contains=["[[File:"],
    )


@case("attach-cid-missing.eml")
def _cid_missing() -> tuple[bytes, Expected]:
    html = (
        '<html><body><p>Das Bild fehlt:</p><img src="cid:gibtsnicht@nordwind.example" alt="Verlorenes '
        'Bild"></body></html>'
    )
    raw = raw_mail(
        [
            *common("Bild fehlt", "a11@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/html; charset=utf-8",
        ],
        html,
    )
    return raw, expect(
        "Bild fehlt",
        language="de",
        attachments=[],
        visible_contains=["Das Bild fehlt:", "[Verlorenes Bild]"],
        wikitext_not_contains=["[[File:", "gibtsnicht"],
    )


@case("attach-smime-signed.eml")
def _smime() -> tuple[bytes, Expected]:
    signature = b"\x30\x82\x05\x00" + blob("p7s", 1200)
    raw = raw_mail(
        [
            *common("Signierte Bestellung", "a12@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; '
            'boundary="signed"',
        ],
        multipart(
            "signed",
            [
                part(
                    [
                        "Content-Type: text/plain; charset=utf-8",
                        "Content-Transfer-Encoding: quoted-printable",
                    ],
                    "Hiermit bestellen wir 2 St=C3=BCck FB-200.\n",
                ),
                part(
                    [
                        'Content-Type: application/pkcs7-signature; name="smime.p7s"',
                        'Content-Disposition: attachment; filename="smime.p7s"',
                        "Content-Transfer-Encoding: base64",
                    ],
                    b64(signature),
                ),
            ],
            preamble="This is a cryptographically signed message in MIME format.\n",
        ),
    )
    return raw, expect(
        "Signierte Bestellung",
        language="de",
        body_contains=["Hiermit bestellen wir 2 Stück FB-200."],
        body_not_contains=["cryptographically"],
        attachments=[att("smime.p7s", "application/pkcs7-signature", signature)],
    )


@case("attach-bounce-report.eml")
def _bounce() -> tuple[bytes, Expected]:
    original = raw_mail(
        [
            "From: Jürgen Müller <juergen.mueller@nordwind.example>",
            "To: nobody@kunde.example",
            "Subject: Angebot",
            f"Date: {DATE}",
            "Message-ID: <bounced@nordwind.example>",
        ],
        "Das ursprüngliche Angebot.\n",
        newline=b"\n",
    )
    raw = raw_mail(
        [
            "From: Mail Delivery System <MAILER-DAEMON@mx.nordwind.example>",
            "To: juergen.mueller@nordwind.example",
            "Subject: Undelivered Mail Returned to Sender",
            f"Date: {DATE}",
            "Message-ID: <bounce-1@mx.nordwind.example>",
            "MIME-Version: 1.0",
            'Content-Type: multipart/report; report-type=delivery-status; boundary="report"',
        ],
        multipart(
            "report",
            [
                part(
                    ["Content-Description: Notification", "Content-Type: text/plain; charset=us-ascii"],
                    "This is the mail system at host mx.nordwind.example.\n\nYour message could not be "
                    "delivered to "
                    "nobody@kunde.example.\n",
                ),
                part(
                    ["Content-Description: Delivery report", "Content-Type: message/delivery-status"],
                    "Reporting-MTA: dns; mx.nordwind.example\n\nFinal-Recipient: rfc822; "
                    "nobody@kunde.example\n"
                    "Action: failed\nStatus: 5.1.1\n",
                ),
                part(["Content-Description: Undelivered Message", "Content-Type: message/rfc822"], original),
            ],
        ),
    )
    return raw, expect(
        "Undelivered Mail Returned to Sender",
        "Mail Delivery System",
        body_contains=["Your message could not be delivered to nobody@kunde.example."],
        forwarded=1,
        forwarded_subjects=["Angebot"],
        page_contains=["Das ursprüngliche Angebot."],
    )


# ---------------------------------------------------------------------------------------------
# Calendar


def _ics(lines: Sequence[str]) -> str:
    return "\r\n".join(lines) + "\r\n"


OUTLOOK_ICS = _ics(
    [
        "BEGIN:VCALENDAR",
        "METHOD:REQUEST",
        "PRODID:Microsoft Exchange Server 2010",
        "VERSION:2.0",
        "BEGIN:VTIMEZONE",
        "TZID:W. Europe Standard Time",
        "BEGIN:STANDARD",
        "DTSTART:16010101T030000",
        "TZOFFSETFROM:+0200",
        "TZOFFSETTO:+0100",
        "END:STANDARD",
        "BEGIN:DAYLIGHT",
        "DTSTART:16010101T020000",
        "TZOFFSETFROM:+0100",
        "TZOFFSETTO:+0200",
        "END:DAYLIGHT",
        "END:VTIMEZONE",
        "BEGIN:VEVENT",
        "ORGANIZER;CN=Jürgen Müller:mailto:juergen.mueller@nordwind.example",
        'ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN="Doe, Jane"',
        " :mailto:jane.doe@pennine-foods.example",
        "DESCRIPTION;LANGUAGE=de-DE:Agenda:\\n1. Layout\\n2. Termine\\n",
        "UID:040000008200E00074C5B7101A82E00800000000A0B1C2D3E4F5@nordwind.example",
        "SUMMARY;LANGUAGE=de-DE:Projektbesprechung Förderband FB-200 mit Pennine Foods u",
        " nd Nordwind",
        "DTSTART;TZID=W. Europe Standard Time:20261124T101500",
        "DTEND;TZID=W. Europe Standard Time:20261124T113000",
        "LOCATION;LANGUAGE=de-DE:Raum 3\\, Werk Köln",
        "BEGIN:VALARM",
        "DESCRIPTION:REMINDER",
        "TRIGGER;RELATED=START:-PT15M",
        "ACTION:DISPLAY",
        "END:VALARM",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
)


@case("calendar-outlook-request.eml")
def _calendar_outlook() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            *common("Projektbesprechung FB-200", "k1@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: multipart/alternative; boundary="_000_cal_"',
        ],
        multipart(
            "_000_cal_",
            [
                part(["Content-Type: text/plain; charset=utf-8"], "Einladung zur Projektbesprechung.\n"),
                part(
                    ["Content-Type: text/html; charset=utf-8"],
                    "<html><body><p>Einladung zur Projektbesprechung.</p></body></html>",
                ),
                part(
                    [
                        'Content-Type: text/calendar; charset="utf-8"; method=REQUEST',
                        "Content-Transfer-Encoding: base64",
                    ],
                    b64(OUTLOOK_ICS.encode()),
                ),
            ],
        ),
    )
    return raw, expect(
        "Projektbesprechung FB-200",
        language="de",
        events=[
            {
                "summary": "Projektbesprechung Förderband FB-200 mit Pennine Foods und Nordwind",
                "start": "2026-11-24 10:15",
                "end": "2026-11-24 11:30",
                "location": "Raum 3, Werk Köln",
            }
        ],
        page_contains=[
            "Projektbesprechung Förderband FB-200 mit Pennine Foods und Nordwind",
            "Raum 3, Werk Köln",
        ],
        wikitext_contains=['<div class="ewb-invitation">'],
    )


@case("calendar-fold-splits-utf8.eml")
def _calendar_split_utf8() -> tuple[bytes, Expected]:
    # RFC 5545 3.1: a fold may fall inside a multi-octet character; unfolding must restore it.
    summary = "Übergabe Förderband".encode()
    cut = summary.index("ö".encode()) + 1
    ics = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:k2@nordwind.example\r\n"
        b"SUMMARY:" + summary[:cut] + b"\r\n " + summary[cut:] + b"\r\n"
        b"DTSTART:20261201T080000Z\r\nDTEND:20261201T090000Z\r\nLOCATION:Halle "
        b"2\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    raw = raw_mail(
        [
            *common("=?utf-8?q?=C3=9Cbergabe?=", "k2@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/calendar; charset=utf-8; method=REQUEST",
            "Content-Transfer-Encoding: 8bit",
        ],
        ics,
    )
    return raw, expect(
        "Übergabe",
        language="de",
        events=[{"summary": "Übergabe Förderband", "start": "2026-12-01 08:00 UTC", "location": "Halle 2"}],
    )


@case("calendar-all-day.eml")
def _calendar_all_day() -> tuple[bytes, Expected]:
    ics = _ics(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "METHOD:REQUEST",
            "BEGIN:VEVENT",
            "UID:k3@nordwind.example",
            "DTSTART;VALUE=DATE:20261224",
            "DTEND;VALUE=DATE:20261225",
            "SUMMARY:Betriebsferien",
            "END:VEVENT",
            "END:VCALENDAR",
        ]
    )
    message = simple("Betriebsferien", "k3@nordwind.example", "Bitte eintragen.\n")
    message.add_attachment(
        ics.encode(), maintype="text", subtype="calendar", filename="ferien.ics", params={"method": "REQUEST"}
    )
    return finish(message), expect(
        "Betriebsferien",
        language="de",
        events=[{"summary": "Betriebsferien", "start": "2026-12-24", "end": "2026-12-25", "location": ""}],
        attachments=[att("ferien.ics", "text/calendar", ics.encode())],
    )


@case("calendar-google-utc.eml")
def _calendar_google() -> tuple[bytes, Expected]:
    ics = _ics(
        [
            "BEGIN:VCALENDAR",
            "PRODID:-//Google Inc//Google Calendar 70.9054//EN",
            "VERSION:2.0",
            "CALSCALE:GREGORIAN",
            "METHOD:REQUEST",
            "BEGIN:VEVENT",
            "DTSTART:20261124T091500Z",
            "DTEND:20261124T100000Z",
            "DTSTAMP:20261120T120000Z",
            "ORGANIZER;CN=jane.doe@pennine-foods.example:mailto:jane.doe@pennine-foods.example",
            "UID:k4@google.example",
            "SUMMARY:Plant visit {{Template}} [[Link]]",
            "LOCATION:Unit 4\\, Leeds Road\\; Huddersfield",
            "DESCRIPTION:Bring safety shoes.",
            "END:VEVENT",
            "END:VCALENDAR",
        ]
    )
    raw = raw_mail(
        [
            "From: Jane Doe <jane.doe@pennine-foods.example>",
            "To: john.smith@nordwind.example",
            "Subject: Invitation: Plant visit @ Tue Nov 24, 2026 9:15am - 10am (GMT)",
            f"Date: {DATE}",
            "Message-ID: <k4@google.example>",
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="g-mixed"',
        ],
        multipart(
            "g-mixed",
            [
                part(
                    ['Content-Type: multipart/alternative; boundary="g-alt"'],
                    multipart(
                        "g-alt",
                        [
                            part(
                                ["Content-Type: text/plain; charset=UTF-8"],
                                "You have been invited to: Plant visit\n",
                            ),
                            part(
                                ["Content-Type: text/html; charset=UTF-8"],
                                "<p>You have been invited to: <b>Plant visit</b></p>",
                            ),
                            part(
                                [
                                    "Content-Type: text/calendar; charset=UTF-8; method=REQUEST",
                                    "Content-Transfer-Encoding: 7bit",
                                ],
                                ics,
                            ),
                        ],
                    ),
                ),
                part(
                    [
                        'Content-Type: application/ics; name="invite.ics"',
                        'Content-Disposition: attachment; filename="invite.ics"',
                        "Content-Transfer-Encoding: base64",
                    ],
                    b64(ics.encode()),
                ),
            ],
        ),
    )
    return raw, expect(
        "Invitation: Plant visit @ Tue Nov 24, 2026 9:15am - 10am (GMT)",
        "Jane Doe",
        events=[
            {
                "summary": "Plant visit {{Template}} [[Link]]",
                "start": "2026-11-24 09:15 UTC",
                "end": "2026-11-24 10:00 UTC",
                "location": "Unit 4, Leeds Road; Huddersfield",
            }
        ],
        page_contains=["Plant visit {{Template}} [[Link]]"],
    )


@case("calendar-two-events.eml")
def _calendar_two() -> tuple[bytes, Expected]:
    ics = _ics(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "METHOD:PUBLISH",
            "BEGIN:VEVENT",
            "UID:k5@nordwind.example",
            "SUMMARY:Messeaufbau",
            "DTSTART;TZID=Europe/Berlin:20270412T080000",
            "DTEND;TZID=Europe/Berlin:20270412T180000",
            "LOCATION:Hannover\\, Halle 3",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:k5b@nordwind.example",
            "SUMMARY:Messeabbau",
            "DTSTART;TZID=Europe/Berlin:20270417T160000",
            "DTEND;TZID=Europe/Berlin:20270417T220000",
            "LOCATION:Hannover\\, Halle 3",
            "END:VEVENT",
            "END:VCALENDAR",
        ]
    )
    raw = raw_mail(
        [
            *common("Messe Termine", "k5@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/calendar; charset=utf-8; method=PUBLISH",
        ],
        ics,
    )
    return raw, expect(
        "Messe Termine",
        language="de",
        events=[
            {"summary": "Messeaufbau", "start": "2027-04-12 08:00", "location": "Hannover, Halle 3"},
            {"summary": "Messeabbau", "start": "2027-04-17 16:00", "location": "Hannover, Halle 3"},
        ],
    )


# ---------------------------------------------------------------------------------------------
# Broken MIME


@case("broken-missing-final-boundary.eml")
def _missing_end() -> tuple[bytes, Expected]:
    table = b"a;b\n1;2\n"
    raw = raw_mail(
        [
            *common("Ohne Schluss", "b1@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="nofinal"',
        ],
        multipart(
            "nofinal",
            [
                part(["Content-Type: text/plain; charset=utf-8"], "Der Text ist vollständig.\n"),
                part(
                    [
                        'Content-Type: text/csv; name="werte.csv"',
                        'Content-Disposition: attachment; filename="werte.csv"',
                        "Content-Transfer-Encoding: base64",
                    ],
                    b64(table),
                ),
            ],
            close=False,
        ),
    )
    return raw, expect(
        "Ohne Schluss",
        language="de",
        body_contains=["Der Text ist vollständig."],
        attachments=[att("werte.csv", "text/csv", table)],
    )


@case("broken-wrong-boundary.eml")
def _wrong_boundary() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            *common("Falsche Grenze", "b2@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="----=_Part_111"',
        ],
        multipart(
            "----=_Part_222",
            [part(["Content-Type: text/plain; charset=utf-8"], "Der Text steht trotzdem da.\n")],
        ),
    )
    return raw, expect(
        "Falsche Grenze",
        language="de",
        body_contains=["Der Text steht trotzdem da."],
        page_contains=["Der Text steht trotzdem da."],
    )


@case("broken-multipart-without-boundary.eml")
def _no_boundary() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            *common("Ohne Grenze", "b3@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: multipart/alternative",
        ],
        "Nur dieser Text ist da.\n",
    )
    return raw, expect(
        "Ohne Grenze",
        language="de",
        body_contains=["Nur dieser Text ist da."],
        page_contains=["Nur dieser Text ist da."],
    )


@case("broken-base64-garbage.eml")
def _bad_base64() -> tuple[bytes, Expected]:
    good = base64.b64encode("Die Zahlen für Q4 sind da.\n".encode()).decode().rstrip("=")
    garbled = good[:12] + "!!#\n" + good[12:24] + " *\n" + good[24:]
    raw = raw_mail(
        [
            *common("Kaputtes Base64", "b4@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: base64",
        ],
        garbled + "\n",
    )
    return raw, expect("Kaputtes Base64", language="de", body_contains=["Die Zahlen für Q4 sind da."])


@case("broken-truncated.eml")
def _truncated() -> tuple[bytes, Expected]:
    data = pdf("truncated", 4000)
    raw = raw_mail(
        [
            *common("Abgeschnitten", "b5@nordwind.example"),
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="trunc"',
        ],
        multipart(
            "trunc",
            [
                part(["Content-Type: text/plain; charset=utf-8"], "Der Anhang kommt gleich.\n"),
                part(
                    [
                        'Content-Type: application/pdf; name="plan.pdf"',
                        'Content-Disposition: attachment; filename="plan.pdf"',
                        "Content-Transfer-Encoding: base64",
                    ],
                    b64(data),
                ),
            ],
            close=False,
        ),
    )
    cut = raw[: len(raw) // 2 + 37]
    return cut, expect(
        "Abgeschnitten",
        language="de",
        body_contains=["Der Anhang kommt gleich."],
        attachments=[{"filename": "plan.pdf", "content_type": "application/pdf"}],
    )


@case("broken-truncated-in-headers.eml")
def _truncated_headers() -> tuple[bytes, Expected]:
    raw = (
        b"From: Anna Schmidt <anna@kunde.example>\r\nSubject: Abgebrochen\r\nMessage-ID: "
        b"<b6@kunde.example>\r\nContent-Ty"
    )
    return raw, expect("Abgebrochen", "Anna Schmidt", has_own_id=True)


@case("broken-header-only.eml")
def _header_only() -> tuple[bytes, Expected]:
    raw = (
        b"From: Anna Schmidt <anna@kunde.example>\r\nTo: vertrieb@nordwind.example\r\nSubject: Nur "
        b"Kopfzeilen\r\nDate: " + DATE.encode() + b"\r\nMessage-ID: <b7@kunde.example>\r\n"
    )
    return raw, expect(
        "Nur Kopfzeilen", "Anna Schmidt", language="de", wikitext_contains=["(leere Nachricht)"], folded=False
    )


@case("broken-empty-body.eml")
def _empty_body() -> tuple[bytes, Expected]:
    raw = raw_mail(common("Leer", "b8@nordwind.example", sender="Anna Schmidt <anna@kunde.example>"), b"")
    return raw, expect("Leer", "Anna Schmidt", wikitext_contains=["(empty message)"], folded=False)


@case("broken-empty-file.eml")
def _empty_file() -> tuple[bytes, Expected]:
    return b"", {"error": "MessageError"}


@case("broken-blank-lines-only.eml")
def _blank_only() -> tuple[bytes, Expected]:
    return b"\r\n\r\n  \r\n", {"error": "MessageError"}


@case("broken-nested-8-levels.eml")
def _deep() -> tuple[bytes, Expected]:
    inner = part(["Content-Type: text/plain; charset=utf-8"], "Tief verschachtelter Text, Ebene 8.\n")
    for level in range(8, 0, -1):
        inner = part(
            [f'Content-Type: multipart/mixed; boundary="level{level}"'], multipart(f"level{level}", [inner])
        )
    raw = raw_mail([*common("Verschachtelt", "b9@nordwind.example"), "MIME-Version: 1.0"], b"")
    raw = raw.rstrip(b"\r\n") + b"\r\n" + inner.replace(b"\n", b"\r\n")
    return raw, expect(
        "Verschachtelt",
        language="de",
        body_contains=["Tief verschachtelter Text, Ebene 8."],
        visible_contains=["Tief verschachtelter Text, Ebene 8."],
    )


@case("broken-content-type-without-subtype.eml")
def _no_subtype() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            *common("Ohne Untertyp", "b10@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ],
        "Text ohne Untertyp, trotzdem lesbar: Größe 5.\n",
    )
    return raw, expect(
        "Ohne Untertyp", language="de", body_contains=["Text ohne Untertyp, trotzdem lesbar: Größe 5."]
    )


@case("broken-unknown-transfer-encoding.eml")
def _bad_cte() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            *common("Komische Kodierung", "b11@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: x-garbage",
        ],
        "Der Text ist unkodiert: Straße.\n",
    )
    return raw, expect("Komische Kodierung", language="de", body_contains=["Der Text ist unkodiert: Straße."])


@case("broken-quoted-printable.eml")
def _bad_qp() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            *common("Kaputtes QP", "b12@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
        ],
        "Summe =3D 100 =ZZ Gr=C3=BC=c3=9fe=\nn und ein =\n",
    )
    return raw, expect("Kaputtes QP", language="de", body_contains=["Summe = 100", "Grüßen und ein"])


@case("broken-junk-header-line.eml")
def _junk_header() -> tuple[bytes, Expected]:
    raw = (
        b"From: Anna Schmidt <anna@kunde.example>\r\nSubject: Kaputter Kopf\r\nThis line is no header\r\n"
        b"Message-ID: <b13@kunde.example>\r\nDate: " + DATE.encode() + b"\r\n\r\nDer eigentliche Text.\r\n"
    )
    return raw, expect("Kaputter Kopf", "Anna Schmidt", page_contains=["Der eigentliche Text."])


@case("broken-lf-and-crlf-mixed.eml")
def _mixed_newlines() -> tuple[bytes, Expected]:
    raw = (
        b"From: Anna Schmidt <anna@kunde.example>\nSubject: Zeilenenden\r\nMessage-ID: <b14@kunde.example>\n"
        b"Date: "
        + DATE.encode()
        + b"\r\nContent-Type: text/plain; charset=utf-8\n\nErste Zeile.\r\nZweite Zeile.\nDritte Zeile.\r\n"
    )
    return raw, expect(
        "Zeilenenden",
        "Anna Schmidt",
        body_contains=["Erste Zeile.\nZweite Zeile.\nDritte Zeile."],
        body_not_contains=["\r"],
    )


@case("broken-control-characters.eml")
def _control() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            *common("Steuerzeichen", "b15@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ],
        b"Hallo\x00Welt\x07 mit\x1b[31m Farbe\x7f und \xe2\x80\xa8Trenner.\n",
    )
    return raw, expect(
        "Steuerzeichen",
        language="de",
        body_contains=["Hallo"],
        wikitext_not_contains=["\x00", "\x07", "\x1b", "\x7f", "\u2028"],
    )


# ---------------------------------------------------------------------------------------------
# Headers and hostile text


@case("header-no-message-id.eml")
def _no_msgid() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [f"From: {JM_ENCODED}", f"To: {TEAM}", "Subject: Ohne Message-ID", f"Date: {DATE}"],
        "Diese Mail hat keine Message-ID.\n",
    )
    return raw, expect(
        "Ohne Message-ID", language="de", has_own_id=False, body_contains=["Diese Mail hat keine Message-ID."]
    )


@case("header-no-date.eml")
def _no_date() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [f"From: {JM_ENCODED}", f"To: {TEAM}", "Subject: Ohne Datum", "Message-ID: <m2@nordwind.example>"],
        "Diese Mail hat kein Datum.\n",
    )
    return raw, expect(
        "Ohne Datum",
        language="de",
        date="1970-01-01T00:00:00+00:00",
        body_contains=["Diese Mail hat kein Datum."],
    )


@case("header-unreadable-date.eml")
def _bad_date() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            f"From: {JM_ENCODED}",
            f"To: {TEAM}",
            "Subject: Datum kaputt",
            "Date: gestern nachmittag",
            "Message-ID: <m3@nordwind.example>",
        ],
        "Das Datum ist unlesbar.\n",
    )
    return raw, expect("Datum kaputt", language="de", date="1970-01-01T00:00:00+00:00")


@case("header-no-from.eml")
def _no_from() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [f"To: {TEAM}", "Subject: Ohne Absender", f"Date: {DATE}", "Message-ID: <m4@nordwind.example>"],
        "Wer hat das geschickt?\n",
    )
    return raw, expect("Ohne Absender", "", sender_address="", wikitext_contains=["(unknown sender)"])


@case("header-no-subject-no-to.eml")
def _no_subject() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [f"From: {JM_ENCODED}", f"Date: {DATE}", "Message-ID: <m5@nordwind.example>", "Subject: "],
        "Betreff vergessen.\n",
    )
    return raw, expect("", language="de", to=[], body_contains=["Betreff vergessen."])


LONG_SUBJECT = (
    "Angebot für die Erweiterung der Abfüllanlage in Halle 3 mit zwei Förderbändern FB-200, einer "
    "Übergabestation, Schutzeinrichtungen nach DIN EN ISO 13857, Schaltschrank, Inbetriebnahme vor Ort, "
    "Schulung des Bedienpersonals, Dokumentation in deutscher und englischer Sprache sowie Wartungsvertrag "
    "über drei Jahre mit Option auf Verlängerung um weitere zwei Jahre und Ersatzteilpaket"
)


@case("header-very-long-subject-encoded.eml")
def _long_subject() -> tuple[bytes, Expected]:
    message = simple(LONG_SUBJECT, "m6@nordwind.example", "Der Betreff ist sehr lang.\n")
    return finish(message), expect(LONG_SUBJECT, language="de", body_contains=["Der Betreff ist sehr lang."])


QUOTATION = (
    "Quotation for the extension of the bottling line in hall 3 with two conveyors, a transfer "
    "station, guards, a control cabinet, commissioning on site, operator training, documentation "
    "in German and English and a three year maintenance contract with an option to extend"
)


@case("header-very-long-subject-folded-ascii.eml")
def _long_subject_ascii() -> tuple[bytes, Expected]:
    words = QUOTATION.split(" ")
    lines: list[str] = ["Subject:"]
    for word in words:
        if len(lines[-1]) + len(word) + 1 > 70:
            lines.append(("\t" if len(lines) % 2 else " ") + word)
        else:
            lines[-1] += " " + word
    raw = raw_mail(
        [
            f"From: {JANE}",
            f"To: {TEAM}",
            "\n".join(lines),
            f"Date: {DATE}",
            "Message-ID: <m7@pennine-foods.example>",
        ],
        "Long subject.\n",
    )
    return raw, expect(" ".join(words), "Jane Doe", body_contains=["Long subject."])


MARKUP_SUBJECT = (
    "{{Löschen}} [[Hauptseite]] ~~~~ __NOTOC__ <script>alert(1)</script> '''fett''' == Titel == #REDIRECT "
    "[[X]]"
)


@case("header-subject-wiki-markup.eml")
def _markup_subject() -> tuple[bytes, Expected]:
    message = simple(MARKUP_SUBJECT, "m8@nordwind.example", "Betreff mit Wiki-Markup.\n")
    return finish(message), expect(MARKUP_SUBJECT, language="de", page_contains=[MARKUP_SUBJECT])


@case("header-subject-newline-injection.eml")
def _subject_injection() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [*common("=?utf-8?q?Hallo=0D=0A=3D=3D_Fake_=3D=3D=0A[[Kategorie:Spam]]?=", "m9@nordwind.example")],
        "Text.\n",
    )
    return raw, expect(
        "Hallo\r\n== Fake ==\n[[Kategorie:Spam]]",
        language="de",
        wikitext_not_contains=["\n== Fake", "[[Kategorie"],
    )


@case("header-hostile-sender-and-id.eml")
def _hostile_sender() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            'From: "{{Admin}} [[Benutzer:Root]] ~~~~ </div>" <root@evil.example>',
            'To: "__NOTOC__ <img src=x>" <victim@nordwind.example>',
            "Cc: =?utf-8?q?=7B=7Bsubst=3AX=7D=7D?= <cc@evil.example>",
            "Subject: Hallo",
            f"Date: {DATE}",
            'Message-ID: <{{evil}}|[[x]]~~~~"onmouseover=alert(1)@evil.example>',
            'References: <{{ref}}@evil.example> <a"b@evil.example>',
        ],
        "Harmloser Text.\n",
    )
    return raw, expect(
        "Hallo",
        "{{Admin}} [[Benutzer:Root]] ~~~~ </div>",
        sender_address="root@evil.example",
        page_contains=["{{Admin}} [[Benutzer:Root]] ~~~~ </div>"],
        wikitext_not_contains=["onmouseover=alert", "</div> <root"],
    )


@case("body-wiki-markup-plain.eml")
def _markup_body() -> tuple[bytes, Expected]:
    body = (
        "#REDIRECT [[Hauptseite]]\n{{Löschen|Grund=Spam}}\n{{#invoke:Modul|f}} {{subst:PAGENAME}}\n"
        "[[Kategorie:Spam]] [https://evil.example Klick] ~~~~~ __NOTOC__ __FORCETOC__\n"
        "== Überschrift ==\n  eingerückt\n* Liste\n# Nummer\n; Begriff : Definition\n{|\n| Zelle\n|}\n----\n"
        "</pre></div><nowiki>x</nowiki><ref>Fußnote</ref><gallery>File:X.png</gallery>\n"
        "ISBN 978-3-16-148410-0 RFC 2822 PMID 12345 &amp; &lt;b&gt; -{Sprache}- '''fett'''\n"
    )
    return finish(simple("Markup im Text", "m10@nordwind.example", body)), expect(
        "Markup im Text",
        language="de",
        body_contains=["#REDIRECT [[Hauptseite]]", "</pre></div>"],
        visible_contains=[
            "#REDIRECT [[Hauptseite]]",
            "{{Löschen|Grund=Spam}}",
            "</pre></div><nowiki>x</nowiki>",
            "  eingerückt",
        ],
        wikitext_not_contains=[
            "ISBN 978",
            "RFC 2822",
            "PMID 12345",
            "#REDIRECT",
            "<nowiki>",
            "<ref>",
            "<gallery>File",
            "-{",
        ],
    )


@case("header-thread-index-outlook.eml")
def _thread_index() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            *common(
                "AW: Angebot",
                "m11@nordwind.example",
                extra=[
                    "Thread-Topic: Angebot",
                    "Thread-Index: AQHZ8k2Lb2J0aGVyZQ==",
                    "Content-Language: de-DE",
                ],
            ),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=us-ascii",
        ],
        "Passt.\n",
    )
    return raw, expect("AW: Angebot", language="de", body_contains=["Passt."])


@case("header-duplicate-headers.eml")
def _duplicates() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            "From: Anna Schmidt <anna@kunde.example>",
            "From: Someone Else <else@kunde.example>",
            "Subject: Erster Betreff",
            "Subject: Zweiter Betreff",
            f"Date: {DATE}",
            "Message-ID: <dup-1@kunde.example>",
            "Message-ID: <dup-2@kunde.example>",
        ],
        "Doppelte Kopfzeilen.\n",
    )
    return raw, expect(
        "Erster Betreff",
        "Anna Schmidt",
        message_id="dup-1@kunde.example",
        body_contains=["Doppelte Kopfzeilen."],
    )


@case("header-group-and-many-recipients.eml")
def _groups() -> tuple[bytes, Expected]:
    recipients = ",\n ".join(f"Mitarbeiter {n} <m{n}@nordwind.example>" for n in range(1, 41))
    raw = raw_mail(
        [
            "From: =?utf-8?q?Gesch=C3=A4ftsf=C3=BChrung?= <gf@nordwind.example>",
            "To: undisclosed-recipients:;",
            f"Cc: {recipients}",
            "Subject: Rundschreiben",
            f"Date: {DATE}",
            "Message-ID: <m13@nordwind.example>",
        ],
        "An alle.\n",
    )
    return raw, expect(
        "Rundschreiben", "Geschäftsführung", language="de", cc_count=40, body_contains=["An alle."]
    )


@case("body-lf-only-unix.eml")
def _lf_only() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            *common("Unix-Zeilen", "m14@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        ],
        "Zeile eins\nZeile zwei\n\nAbsatz zwei\n",
        newline=b"\n",
    )
    return raw, expect("Unix-Zeilen", language="de", body_contains=["Zeile eins\nZeile zwei\n\nAbsatz zwei"])


@case("body-mailing-list-footer-part.eml")
def _list_footer() -> tuple[bytes, Expected]:
    raw = raw_mail(
        [
            *common(
                "[team] Grillfest", "m15@nordwind.example", extra=["List-Id: Team <team.nordwind.example>"]
            ),
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="list"',
        ],
        multipart(
            "list",
            [
                part(
                    ["Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"],
                    "Grillfest am Freitag ab 17 Uhr.\n",
                ),
                part(
                    ["Content-Type: text/plain; charset=us-ascii", "Content-Disposition: inline"],
                    "_______________________________________________\nteam mailing "
                    "list\nteam@nordwind.example\n",
                ),
            ],
        ),
    )
    return raw, expect(
        "[team] Grillfest",
        language="de",
        body_contains=["Grillfest am Freitag ab 17 Uhr.", "team mailing list"],
    )


@case("body-very-long-line.eml")
def _long_line() -> tuple[bytes, Expected]:
    text = " ".join(f"Wort{n}" for n in range(12000))
    raw = raw_mail(
        [
            *common("Lange Zeile", "m16@nordwind.example"),
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: quoted-printable",
        ],
        quopri.encodestring(text.encode()),
    )
    return raw, expect("Lange Zeile", language="de", body_contains=["Wort0 Wort1", "Wort11998 Wort11999"])


# ---------------------------------------------------------------------------------------------


def main() -> None:
    """Write every case and expected.json next to this script."""
    expected: dict[str, Expected] = {}
    for stale in HERE.glob("*.eml"):
        stale.unlink()
    for name, function in sorted(CASES.items()):
        raw, properties = function()
        (HERE / name).write_bytes(raw)
        expected[name] = properties
    (HERE / "expected.json").write_text(
        json.dumps(expected, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
    )
    print(f"{len(CASES)} mails written to {HERE}")


if __name__ == "__main__":
    main()
