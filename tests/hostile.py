"""Hostile mail as raw RFC 5322 bytes: a Hypothesis strategy and a seeded generator.

Real mail breaks every rule, and a mailbox must not stop for one such mail. This module builds
whole *classes* of broken mail rather than hand-picked samples: deep and broken MIME nesting
(missing, duplicate and wrong boundaries, hundreds of levels), huge and folded headers, 8-bit
and NUL bytes in ids, impossible and overflowing dates, bogus and mixed charsets in headers and
bodies, truncated images and archives under wrong content types, body parts that carry file
names, message/rfc822 parts that are base64 or garbage, empty mails, headers without a colon
and plain binary junk.

Every choice goes through a `Chooser` (see `tests.hostile_headers`, which builds the header
fields), so the same building blocks serve two masters:
`hostile_mail()` draws through Hypothesis (which shrinks a failure to a small mail), and
`hostile_mails(seed, count)` draws from a seeded `random.Random` for integration tests, which
need many mails, byte-identical on every run. `normal_mail(number)` builds an ordinary mail.
"""

from __future__ import annotations

import base64
import io
import quopri
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from hypothesis import strategies as st

from tests.hostile_headers import CHARSETS, Chooser, DrawChooser, RandomChooser, encode, headers, phrase, text

__all__ = [
    "Chooser",
    "build_mail",
    "hostile_html",
    "hostile_mail",
    "hostile_mails",
    "normal_mail",
    "normal_message_id",
]

ENCODINGS = ("7bit", "8bit", "binary", "quoted-printable", "base64", "base64-cut", "x-uuencode", "bogus")
_PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000100000001008060000001ff3ff61") + b"\x00" * 64


# -- MIME parts --------------------------------------------------------------------------------


def _transfer(data: bytes, c: Chooser) -> tuple[bytes, bytes]:
    """Return (Content-Transfer-Encoding value, encoded body)."""
    encoding = c.choice(ENCODINGS)
    if encoding == "base64":
        return b"base64", base64.encodebytes(data)
    if encoding == "base64-cut":  # cut mid-way, as a truncated download leaves it
        encoded = base64.encodebytes(data)
        return b"base64", encoded[: c.integer(0, len(encoded))]
    if encoding == "quoted-printable":
        return b"quoted-printable", quopri.encodestring(data) + c.choice((b"", b"=", b"=Z"))
    return encoding.encode(), data


def _zip(c: Chooser) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner.txt", "data " * c.integer(1, 50))
    data = buffer.getvalue()
    return data[: c.integer(0, len(data))]


def _filename(c: Chooser) -> bytes:
    return c.choice(
        (
            b'filename="report.pdf"',
            b"filename*=bogus''%FF%FE.txt",
            b"filename*=utf-8''%C3%BC%FF.txt",
            b'filename="=?bogus?q?x?=.png"',
            b'filename="\xfc\xe4.txt"',
            b'filename="../../etc/passwd"',
            b'filename=""',
            b'filename="' + b"n" * 400 + b'.zip"',
            b"filename*0*=utf-8''a%C3; filename*1*=%BC.txt",
        )
    )


def _html(c: Chooser) -> bytes:
    fragments = (
        b"<p>" + phrase(c) + b"</p>",
        b"<table><tr><td>cell<td>",
        b"<img src='cid:a@b'><img src='http://tracker.example/p.gif'>",
        b"<a href='javascript:alert(1)'>x</a>",
        c.choice((b"<div>", b"<ul><li>", b"<blockquote>", b"<table><tr><td>", b"<head>")) * c.integer(1, 400),
        b"<b><i><u>unclosed",
        b"&#0;&#xD800;&#99999999;",
        b"\x00\xff<br>",
        b"<blockquote type=cite>quoted</blockquote>",
    )
    return b"".join(c.choice(fragments) for _ in range(c.integer(0, 5)))


def _leaf(c: Chooser, depth: int) -> bytes:
    """One non-multipart part: its header lines, a blank line and its body."""
    kind = c.integer(0, 8)
    extra = b""
    if kind <= 1:  # text/plain, sometimes with a file name, sometimes flowed
        charset = encode(c.choice(CHARSETS), "utf-8")
        ctype = b'text/plain; charset="' + charset + b'"' + c.choice((b"", b"; format=flowed; delsp=yes"))
        body = encode("\n".join(text(c) for _ in range(c.integer(0, 5))), c.choice(CHARSETS))
    elif kind == 2:
        ctype, body = b"text/html; charset=" + encode(c.choice(CHARSETS), "utf-8"), _html(c)
    elif kind == 3:  # a truncated image, or an image that is something else
        ctype = c.choice((b"image/png", b"image/jpeg", b"application/pdf", b"image/svg+xml"))
        body = c.choice((_PNG[: c.integer(0, len(_PNG))], _zip(c), b"<svg onload=alert(1)>"))
    elif kind == 4:  # a truncated archive under any label
        ctype, body = (
            c.choice((b"application/zip", b"image/jpeg", b"text/plain", b"application/x-7z")),
            _zip(c),
        )
    elif kind == 5:  # a forwarded mail that is base64, garbage or itself hostile
        ctype = b"message/rfc822"
        inner = _structured(c, depth + 1) if depth < 4 else c.blob(200)
        body = c.choice((inner, c.blob(200), b""))
    elif kind == 6:
        ctype = b"text/calendar; method=REQUEST"
        body = b"BEGIN:VEVENT\r\nSUMMARY:" + phrase(c) + b"\r\nDTSTART:2024\r\n \xff\r\nEND:VEVENT\r\n"
    elif kind == 7:
        ctype, body = c.choice((b"application/ms-tnef", b"application/octet-stream", b"bogus")), c.blob(300)
    else:
        ctype, body = c.choice((b"text/plain; charset=", b"", b"text/", b"/", b";;;")), c.blob(100)
    if c.integer(0, 2) == 0:
        disposition = c.choice((b"inline", b"attachment", b"\xff"))
        extra += b"Content-Disposition: " + disposition + b"; " + _filename(c) + b"\r\n"
    if c.integer(0, 3) == 0:
        extra += b"Content-ID: " + c.choice((b"<a@b>", b"<\xff\x00@b>", b"")) + b"\r\n"
    encoding, encoded = _transfer(body, c)
    return (
        b"Content-Type: "
        + ctype
        + b"\r\nContent-Transfer-Encoding: "
        + encoding
        + b"\r\n"
        + extra
        + b"\r\n"
        + encoded
    )


def _multipart(c: Chooser, depth: int, children: list[bytes], parent_boundary: bytes) -> bytes:
    """A multipart whose boundary may be missing, wrong, its parent's, unterminated or absurd."""
    boundary = c.choice((b"b%d" % depth, parent_boundary, b"", b"\xff\xfe", b"=" * 200, b"--"))
    delimiter = c.choice((boundary, boundary, b"not-" + boundary))
    declared = c.choice((b'; boundary="' + boundary + b'"', b"", b"; boundary=" + boundary))
    subtype = c.choice((b"mixed", b"alternative", b"related", b"report", b"signed", b"digest", b"bogus"))
    body = b"".join(b"--" + delimiter + b"\r\n" + child + b"\r\n" for child in children)
    closing = c.choice((b"--" + delimiter + b"--\r\n", b""))
    return b"Content-Type: multipart/" + subtype + declared + b"\r\n\r\npreamble\r\n" + body + closing


def _part(c: Chooser, depth: int, parent_boundary: bytes = b"") -> bytes:
    if depth < 5 and c.integer(0, 2) == 0:
        children = [_part(c, depth + 1, b"b%d" % depth) for _ in range(c.integer(0, 4))]
        return _multipart(c, depth, children, parent_boundary)
    return _leaf(c, depth)


def _deep(c: Chooser) -> bytes:
    """A chain of 50 to 1200 nested multiparts (Python's parser recurses once per level)."""
    levels = c.integer(50, 1200)
    broken = c.integer(0, 2 * levels)  # perhaps one level declares a boundary its delimiters do not use
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="d%d"\r\n\r\n--%s\r\n'
        % (i, b"x%d" % i if i == broken else b"d%d" % i)
        for i in range(levels)
    )
    closing = b"".join(b"--d%d--\r\n" % i for i in reversed(range(levels)))
    return opening + _leaf(c, 0) + b"\r\n" + closing


def _structured(c: Chooser, depth: int) -> bytes:
    return b"\r\n".join(headers(c)) + b"\r\nMIME-Version: 1.0\r\n" + _part(c, depth)


# -- whole mails -------------------------------------------------------------------------------

_CLASSES: tuple[Callable[[Chooser], bytes], ...] = (
    lambda c: _structured(c, 0),
    lambda c: _structured(c, 0),
    lambda c: _structured(c, 0),
    lambda c: b"From: a@example.org\r\nMessage-ID: <deep%d@example.org>\r\n" % c.integer(0, 9) + _deep(c),
    lambda c: c.choice((b"", b"\r\n", b"   \n\n\t", b"\r\n\r\n")),
    lambda c: c.blob(2000),  # binary junk
    lambda c: b"From: junk@example.org\r\n" + c.blob(500),
    lambda c: b"\r\n".join(headers(c)),  # headers only, no body
    lambda c: b"no colon here\r\nnor here\r\n\r\nbody\r\n",
)


def build_mail(c: Chooser) -> bytes:
    """Build one hostile mail from `c`'s choices, with CRLF, LF, CR or mixed line ends."""
    mail = c.choice(_CLASSES)(c)
    ending = c.choice((b"\r\n", b"\r\n", b"\n", b"\r"))
    return mail if ending == b"\r\n" else mail.replace(b"\r\n", ending)


@st.composite
def _hostile(draw: st.DrawFn) -> bytes:
    return build_mail(DrawChooser(draw))


def hostile_mail() -> st.SearchStrategy[bytes]:
    """Hypothesis strategy: raw bytes of one hostile mail of any class above."""
    return _hostile()


@st.composite
def _hostile_html(draw: st.DrawFn) -> str:
    chooser = DrawChooser(draw)
    return _html(chooser).decode(chooser.choice(("utf-8", "cp1252", "latin-1")), "replace")


def hostile_html() -> st.SearchStrategy[str]:
    """Hypothesis strategy: one hostile HTML body as text (broken, deep, scripted, 8-bit)."""
    return _hostile_html()


def hostile_mails(seed: int, count: int) -> list[bytes]:
    """`count` hostile mails from a seeded generator: the same bytes on every run."""
    chooser = RandomChooser(seed)
    return [build_mail(chooser) for _ in range(count)]


def normal_message_id(number: int) -> str:
    """The Message-ID (without brackets) of `normal_mail(number)`."""
    return f"normal-{number}@example.org"


def normal_mail(number: int) -> bytes:
    """An ordinary UTF-8 mail with its own Message-ID and subject, as a well-behaved client sends it."""
    date = datetime(2025, 3, 1, 9, 0, tzinfo=UTC) + timedelta(minutes=number)
    return (
        f"From: Anna Schmidt <anna{number}@example.org>\r\n"
        "To: team@example.org\r\n"
        f"Subject: Normal mail {number}\r\n"
        f"Date: {format_datetime(date)}\r\n"
        f"Message-ID: <{normal_message_id(number)}>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        f"Hallo Team,\r\n\r\ndas ist die normale Mail Nummer {number}. Grüße, Anna\r\n"
    ).encode()
