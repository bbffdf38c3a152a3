"""Header building blocks of hostile mail (see `tests.hostile`): where choices come from, and
header values that break every rule: lying charsets, 8-bit and NUL ids, impossible dates,
addresses nested thousands deep, folding gone wild, lines without a colon.
"""

from __future__ import annotations

import base64
import quopri
import random
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from hypothesis import strategies as st

T = TypeVar("T")

CHARSETS = (
    "utf-8", "iso-8859-1", "windows-1252", "us-ascii", "bogus-charset", "x-unknown", "unknown-8bit",
    "utf-7", "utf-16", "iso-2022-jp", "koi8-r", "gb2312", "", "utf-8\xff", "../../etc/passwd",
    "x" * 200, "cp65001", "latin1'de'", "idna", "base64", "undefined", "rot13",
)  # fmt: skip
TEXTS = (
    "Grüße aus Köln, schönes Wetter", "Привет, как дела?", "日本語のテキストです", "emoji 😀🎉 ok",
    "{{Template}} [[Link]] __NOTOC__ ~~~~ </div><pre>", "=?utf-8?q?not_a_word?=", "a\x00b\x1bc",
    "", " ", "\u202eevil\u2028line", "ISBN 978-3-16-148410-0 RFC 2047", "<script>alert(1)</script>",
)  # fmt: skip
DATES = (
    "Tue, 02 Jan 2024 10:00:00 +0100", "Tue, 02 Jan 99999999999 10:00:00 +0100",
    "Fri, 30 Feb 2024 25:61:99 +0000",
    "Tue, 02 Jan 2024 10:00:00 +9999", "Mon, 01 Jan 0000 00:00:00 +0000", "Fri, 31 Dec 9999 23:59:59 -2359",
    "Mon, 01 Jan 0001 00:00:00 +2359", "yesterday at noon", "", "\xff\xfe", "Tue, 02 Jan 1800 10:00:00 +0100",
    "Wed, 31 Dec 1969 23:59:59 -1200", "Tue, 02 Jan 2024 10:00:00 +0100 (CET) extra junk (((",
    "Thu, 01 Jan 3000 00:00:00 +0000", "2024-01-02T10:00:00Z", "Tue, 2 Jan 24 10:00 EST",
)  # fmt: skip


class Chooser(Protocol):
    """Where a builder's choices come from: Hypothesis draws or a seeded random generator."""

    def integer(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        ...

    def choice(self, options: Sequence[T]) -> T:
        """One of `options`."""
        ...

    def blob(self, high: int) -> bytes:
        """Arbitrary bytes, at most `high` of them."""
        ...


class DrawChooser:
    """Choices drawn through Hypothesis, which can shrink a failing mail."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def choice(self, options: Sequence[T]) -> T:
        return self.draw(st.sampled_from(options))

    def blob(self, high: int) -> bytes:
        return self.draw(st.binary(max_size=high))


class RandomChooser:
    """Choices from a seeded generator: the same mails on every run."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def choice(self, options: Sequence[T]) -> T:
        return self.rng.choice(options)

    def blob(self, high: int) -> bytes:
        return self.rng.randbytes(self.rng.randint(0, high))


# -- header values -----------------------------------------------------------------------------


def encode(value: str, charset: str) -> bytes:
    """`value` in `charset`, or in UTF-8 where that charset is unknown or cannot hold it."""
    try:
        return value.encode(charset)
    except (LookupError, UnicodeError, ValueError):
        return value.encode("utf-8", "surrogatepass")


def text(c: Chooser) -> str:
    """A line of text in any script, with markup, controls, or random bytes read as UTF-8."""
    return c.choice(TEXTS) if c.integer(0, 3) else c.blob(40).decode("utf-8", "replace")


def encoded_word(c: Chooser) -> bytes:
    """One RFC 2047 encoded word, often lying: bogus or mixed charsets, broken payloads."""
    label = c.choice(CHARSETS)
    data = encode(text(c), c.choice(CHARSETS))  # encoded in one charset, labelled another
    kind = c.choice(("B", "Q", "b", "X"))
    if kind in ("B", "b"):
        payload = base64.b64encode(data)[: c.choice((None, 3, 5))]
    else:
        payload = quopri.encodestring(data, header=True).replace(b"=\n", b"") + c.choice((b"", b"=F", b"=ZZ"))
    return b"=?" + encode(label, "utf-8") + b"?" + kind.encode() + b"?" + payload + b"?="


def phrase(c: Chooser) -> bytes:
    """A display name or subject: raw 8-bit, encoded words, or ASCII."""
    kind = c.integer(0, 3)
    if kind == 0:
        return encode(text(c), c.choice(CHARSETS))  # raw 8-bit
    if kind == 1:
        return b" ".join(encoded_word(c) for _ in range(c.integer(1, 4)))
    return text(c).encode("ascii", "ignore")


def addresses(c: Chooser) -> bytes:
    """A To/Cc/From value: ordinary lists, thousands of encoded words, deep groups and comments."""
    many = c.integer(500, 4000)
    kind = c.integer(0, 7)
    if kind == 0:
        return b", ".join(b'"' + phrase(c) + b'" <p%d@example.org>' % i for i in range(c.integer(1, 5)))
    if kind == 1:
        word = encoded_word(c)
        return b" ".join([word] * many) + b" <many@example.org>"
    if kind == 2:
        return c.choice((b"a:", b"(", b"<", b'"', b"\\", b"@", b",", b"a:b,")) * many
    if kind == 3:
        return b",\r\n ".join(b"=?utf-8?q?P=C3=BC_%d?= <p%d@example.org>" % (i, i) for i in range(many))
    if kind == 4:
        return phrase(c) + b" <" + encode(text(c), "utf-8") + b"@\xff\x00example.org>"
    return phrase(c) + c.choice((b" <a@example.org>", b"", b" <>", b" <@>", b" undisclosed-recipients:;"))


def message_id(c: Chooser) -> bytes:
    """A Message-ID value: 8-bit and NUL bytes, missing brackets, several ids, huge ids."""
    local = c.choice((b"a\xc3\xbcb", b"\xfc\xe4", b"a\x00b", b"\x00", b"plain", b"x" * 5000, b"sp ace", b""))
    domain = c.choice((b"example.org", b"EXAMPLE.ORG", b"\xff\xfe", b"", b"ex\x00ample.org"))
    unique = b"%d" % c.integer(0, 10**6)
    ident = local + unique + b"@" + domain
    shapes = (b"<" + ident + b">", ident, b"<" + ident, b"<>", b"<" + ident + b"> <second@example.org>", b"@")
    return c.choice(shapes)


def references(c: Chooser) -> bytes:
    """References/In-Reply-To: junk between ids, thousands of ids, 8-bit ids."""
    separator = c.choice((b" ", b"\r\n\t", b",", b" junk (comment) ", b"\x00"))
    if c.integer(0, 3) == 0:
        return separator.join(b"<r%d@\xff.example.org>" % i for i in range(2000))
    return separator.join(message_id(c) for _ in range(c.integer(1, 3)))


def _folded(value: bytes, c: Chooser) -> bytes:
    """Fold a value at random places: long runs of continuation lines, or none at all."""
    if c.integer(0, 2):
        return value
    step = c.integer(1, 60)
    return b"\r\n ".join(value[i : i + step] for i in range(0, len(value), step))


def headers(c: Chooser) -> list[bytes]:
    """The header block of a top-level mail: every field may be hostile, some are missing."""
    fields: list[tuple[bytes, Callable[[Chooser], bytes]]] = [
        (b"From", addresses),
        (b"To", addresses),
        (b"Cc", addresses),
        (b"Subject", phrase),
        (b"Date", lambda c: encode(c.choice(DATES), "latin-1")),
        (b"Message-ID", message_id),
        (b"In-Reply-To", message_id),
        (b"References", references),
        (b"Thread-Index", lambda c: c.choice((b"AQHZ", b"\xff\xff", base64.b64encode(c.blob(40))))),
        (b"Return-Path", lambda c: c.choice((b"<>", b"<\xff@x>", b"MAILER-DAEMON"))),
        (b"Auto-Submitted", lambda c: c.choice((b"auto-replied", b"\xfc"))),
        (b"Content-ID", lambda c: c.choice((b"<\xff@x>", b"<a@b>"))),
    ]
    lines = [
        name + b": " + _folded(make(c), c) for name, make in fields if c.integer(0, 4)
    ]  # each field present with probability 4/5
    extras = (
        b"This line has no colon",
        b"X-\xff\xfe-Name: value",
        b": empty name",
        b"X-Huge: " + b"\r\n ".join([b"fold"] * c.integer(1, 3000)),
        b"Subject: second subject",
        b"Message-ID: <duplicate@example.org>",
        b"X-Binary: " + c.blob(80).replace(b"\n", b"").replace(b"\r", b""),
    )
    for _ in range(c.choice((0, 0, 0, 1, 2))):
        lines.insert(c.integer(0, len(lines)), c.choice(extras))
    return lines
