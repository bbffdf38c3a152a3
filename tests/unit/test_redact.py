"""Redaction before publishing: German and English samples, true and false positives, properties."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.attachments import UploadLimits, refusal_reason
from bridge.core.model import Attachment, CalendarEvent, Message
from bridge.core.redact import (
    Redaction,
    RedactKind,
    card_valid,
    iban_valid,
    marker,
    redact_message,
    redact_text,
)
from bridge.core.render.escape import escape_inline, escape_pre
from bridge.core.render.page import RenderOptions, render_message

ALL = Redaction(frozenset(RedactKind), language="en")
DE = Redaction(frozenset(RedactKind), language="de")

REDACTED = [
    # (text, kind) — the value is replaced by the kind's marker
    ("IBAN: DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX", RedactKind.IBAN),
    ("Bitte auf DE89370400440532013000 überweisen.", RedactKind.IBAN),
    ("Our account: GB82 WEST 1234 5698 7654 32", RedactKind.IBAN),
    ("Konto NL91ABNA0417164300.", RedactKind.IBAN),
    ("Karte 4111 1111 1111 1111 gültig bis 12/28", RedactKind.CREDIT_CARD),
    ("card 5500-0000-0000-0004 please", RedactKind.CREDIT_CARD),
    ("Amex 3782 822463 10005", RedactKind.CREDIT_CARD),
    ("Tel. 030 1234567", RedactKind.PHONE),
    ("Telefon: +49 (0)30 123 456-78", RedactKind.PHONE),
    ("Erreichbar unter 0171 1234567 oder per Mail", RedactKind.PHONE),
    ("Fax: 0228/9876543", RedactKind.PHONE),
    ("Ruf an: (030) 12 34 56 78", RedactKind.PHONE),
    ("Call me on +1 (555) 123-4567 tomorrow", RedactKind.PHONE),
    ("Phone: +44 20 7946 0958", RedactKind.PHONE),
    ("mobile 0049 151 12345678", RedactKind.PHONE),
    ("Mail an anna.mueller@example.com bitte", RedactKind.EMAIL),
    ("write to <j.doe+news@mail.example.co.uk>", RedactKind.EMAIL),
]
KEPT = [
    "IBAN-like but wrong checksum: DE89 3704 0044 0532 0130 01",
    "DE89370400440532013001",
    "Bestellnummer 4711-0815-42",
    "Order no. 123-456-7890",
    "Rechnung Nr. 0123 456789",
    "Auftrag 0815-4711 vom 01.12.2026",
    "Invoice RE-2026-00123, due 2026-12-01",
    "Treffen am 01.12.2026 um 10:30 Uhr",
    "Preis: 1.234,56 € (netto 1 037,45 €)",
    "10115 Berlin, Musterstraße 12",
    "Kundennummer 01234567890",
    "Version 2.0.15, build 20261201",
    "ISBN 978-3-16-148410-0",
    "4111 1111 1111 1112 (Luhn fails)",
    "Tracking 1Z999AA10123456784",
    '<img src="cid:image001.png@01DA1234.56789AB0">',
    '<img src="cid:part1.abc@example.com">',
    "12 345 678 in the table   98 765 432",
]


@pytest.mark.parametrize(("text", "kind"), REDACTED)
def test_personal_data_is_replaced_by_its_marker(text: str, kind: RedactKind) -> None:
    """Each sample's value goes; the marker of its kind stands there, in English and in German."""
    english, german = redact_text(text, ALL), redact_text(text, DE)
    assert marker(kind, "en") in english and marker(kind, "de") in german
    assert not any(ch.isdigit() for ch in english.replace("12/28", "")) or kind == RedactKind.EMAIL
    assert "@" not in english


@pytest.mark.parametrize("text", KEPT)
def test_what_only_looks_similar_is_kept(text: str) -> None:
    """Order and invoice numbers, dates, prices, postal codes, failed checksums stay as written."""
    assert redact_text(text, ALL) == text


def test_signature_with_postal_code_after_the_number() -> None:
    """A phone number followed by a postal code loses the number only."""
    assert (
        redact_text("Telefon: 030 1234567 10115 Berlin", DE)
        == "Telefon: [Telefonnummer entfernt] 10115 Berlin"
    )


def test_only_the_listed_kinds_and_custom_patterns() -> None:
    """`redact` picks the kinds; `redact_patterns` add the admin's own, marked "[removed]"."""
    only_email = Redaction(frozenset({RedactKind.EMAIL}), patterns=(r"Personalnummer:?\s*\d{5,8}",))
    text = "anna@example.com, Tel. 030 1234567, Personalnummer: 123456"
    assert redact_text(text, only_email) == "[e-mail address removed], Tel. 030 1234567, [removed]"


def test_checksums() -> None:
    """IBAN mod 97 with the country's length; cards by network prefix, length and Luhn."""
    assert iban_valid("DE89 3704 0044 0532 0130 00") and not iban_valid("DE89 3704 0044 0532 0130 0")
    assert not iban_valid("XX89370400440532013000")
    assert card_valid("4111111111111111") and not card_valid("4111111111111112")
    assert not card_valid("1234567812345670")  # Luhn passes, no card network starts with 1


def test_a_message_is_redacted_everywhere_it_reaches_the_wiki() -> None:
    """Subject, plain and HTML text, invitations, forwarded mail and attachment names; attachments
    of withheld types are listed with the reason, never uploaded."""
    iban = "DE89 3704 0044 0532 0130 00"
    inner = Message("f@x", (), f"Fwd {iban}", "", "b@x", datetime(2026, 1, 1, tzinfo=UTC), f"Konto {iban}")
    message = Message(
        message_id="m@x",
        references=(),
        subject=f"Zahlung an {iban}",
        sender_name="Anna",
        sender_address="anna@example.de",
        date=datetime(2026, 11, 27, tzinfo=UTC),
        body_text=f"Bitte an {iban}, Tel. 030 1234567",
        body_html=f'<p>Bitte an <a href="mailto:anna@example.de">anna@example.de</a>, {iban}</p>',
        attachments=(
            Attachment(f"Rechnung {iban}.pdf", "application/pdf", b"%PDF-1.4"),
            Attachment("key.p12", "application/octet-stream", b"secret"),
        ),
        forwarded=(inner,),
        events=(CalendarEvent("Call +49 30 1234567", "2026-12-01", "", "Raum 030 1234567"),),
    )
    rules = Redaction(frozenset(RedactKind), attachment_types=(".p12",), language="de")
    redacted = redact_message(message, rules)
    flat = repr(redacted)
    assert (
        "3704" not in flat
        and "1234567" not in flat
        and "anna@example.de" not in flat.replace("sender_address='anna@example.de'", "")
    )
    assert redacted.attachments[0].filename == "Rechnung [IBAN entfernt].pdf"
    assert [a.withheld for a in redacted.attachments] == [False, True]
    limits = UploadLimits(frozenset({"pdf", "p12"}), 10**9)
    assert (
        refusal_reason(redacted.attachments[1], limits, 10**9, "en")
        == "withheld for data protection (file type)"
    )
    page = render_message(redacted, RenderOptions("team", "de"))
    assert "[IBAN entfernt]" in page and "3704" not in page
    assert redact_message(message, Redaction()) is message


# -- properties -------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "DE89 3704 0044 0532 0130 00",
        "DE89370400440532013000",
        "4111 1111 1111 1111",
        "+49 30 1234567",
        "Tel. 030 1234567",
        "anna@example.com",
        "[",
        "]",
        "[[",
        "]]",
        "{{",
        "}}",
        "'''",
        "~~~~",
        "__NOTOC__",
        "|",
        "<",
        " ",
        "\n",
        "-",
        "0",
        "Nr.",
        "[IBAN removed]",
        "[removed]",
    ]
)
_TEXT = st.one_of(
    st.text(max_size=300), st.lists(st.one_of(_PIECES, st.text(max_size=5)), max_size=30).map("".join)
)
_REDACTIONS = st.builds(
    Redaction,
    kinds=st.frozensets(st.sampled_from(list(RedactKind))),
    patterns=st.lists(st.sampled_from([r"\d{6}", r"geheim\w*", r"[A-Z]{3}-\d+", "removed"]), max_size=2).map(
        tuple
    ),
    language=st.sampled_from(["en", "de"]),
)


@settings(max_examples=300, deadline=None)
@given(text=_TEXT, redaction=_REDACTIONS)
def test_redaction_never_raises_and_is_idempotent(text: str, redaction: Redaction) -> None:
    """Any text, any choice of kinds: redacting twice changes nothing more than redacting once."""
    once = redact_text(text, redaction)
    assert redact_text(once, redaction) == once


@settings(max_examples=300, deadline=None)
@given(text=_TEXT)
def test_markers_never_form_wiki_markup(text: str) -> None:
    """A marker brings no markup of its own, and escaped as mail text is, the redacted text has none."""
    redacted = redact_text(text, ALL)
    for kind in [*RedactKind, "custom"]:
        for language in ("en", "de"):
            found = marker(kind, language)
            assert not any(token in found for token in ("[[", "]]", "{{", "''", "~~~", "__", "<", "&", "|"))
    for escaped in (escape_inline(redacted), escape_pre(redacted)):
        assert redacted.count(marker(RedactKind.IBAN, "en")) <= escaped.count("IBAN removed")
    inline = escape_inline(redacted)
    assert not any(token in inline for token in ("[[", "{{", "~~~", "__"))


def test_numbers_glued_by_a_plus_are_no_phone_number_and_stay_stable() -> None:
    """Found by Hypothesis: the right-hand side of `00000000+00000000` looked like a number of its
    own once the left-hand side was replaced, so a second redaction changed the text again."""
    both = Redaction(kinds=frozenset({RedactKind.IBAN, RedactKind.PHONE}))
    assert redact_text("00000000+00000000", both) == "00000000+00000000"
    assert redact_text("Tel. +49 30 1234567", both) == "Tel. [phone number removed]"


def test_a_boundary_made_by_one_kinds_marker_is_redacted_in_the_same_call() -> None:
    """Found by Hypothesis: `0@0.AA000000` is an address only once the digits after it are a
    marker; redaction goes on until nothing changes, so a second call finds nothing new."""
    every = Redaction(kinds=frozenset(RedactKind), patterns=(r"\d{6}",))
    once = redact_text("0@0.AA000000", every)
    assert once == "[e-mail address removed][removed]"
    assert redact_text(once, every) == once
