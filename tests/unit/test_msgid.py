"""Message-ID normalization and extraction from sloppy real-world headers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.core.msgid import SYNTHETIC_DOMAIN, extract_ids, normalize_id, synthesize_id


def test_normalize_strips_angle_brackets_and_whitespace() -> None:
    """A bracketed id with surrounding blanks is reduced to the bare `local@domain` form."""
    assert normalize_id("  <abc.123@example.org> ") == "abc.123@example.org"


def test_normalize_accepts_id_without_brackets() -> None:
    """An id that arrives without angle brackets gets the same canonical form as a bracketed one."""
    assert normalize_id("abc@example.org") == normalize_id("<abc@example.org>") == "abc@example.org"


def test_normalize_lowercases_domain_but_keeps_local_part() -> None:
    """The domain is lower-cased while the case-sensitive local part is kept as written."""
    assert normalize_id("<AbC.XyZ@Mail.EXAMPLE.Org>") == "AbC.XyZ@mail.example.org"


def test_normalize_removes_folding_inside_an_id() -> None:
    """An id folded over two header lines (CRLF plus blank) is joined back together."""
    assert normalize_id("<very-long-local-part\r\n @example.org>") == "very-long-local-part@example.org"


def test_normalize_splits_on_the_last_at_sign() -> None:
    """With several `@`, only the part after the last one counts as the (lower-cased) domain."""
    assert normalize_id("<Weird@Local@EXAMPLE.org>") == "Weird@Local@example.org"


def test_normalize_rejects_empty_and_id_without_at() -> None:
    """Empty text, bare brackets and tokens without `@` or with an empty side are not ids."""
    for raw in ["", "   ", "<>", "<no-at-sign>", "no-at-sign", "<@example.org>", "<local@>", "@"]:
        assert normalize_id(raw) is None, raw


def test_extract_ids_of_none_and_empty() -> None:
    """A missing or empty header yields no ids."""
    assert extract_ids(None) == []
    assert extract_ids("") == []
    assert extract_ids("   ") == []


def test_extract_ids_from_folded_references() -> None:
    """A References header folded over several lines yields every id in order."""
    header = "<a@x.org>\r\n <b@x.org>\r\n\t<c@X.ORG>"
    assert extract_ids(header) == ["a@x.org", "b@x.org", "c@x.org"]


def test_extract_ids_drops_duplicates_keeping_first_position() -> None:
    """An id repeated (also in another spelling) is listed once, at its first position."""
    header = "<a@x.org> <b@x.org> <a@X.Org> a@x.org <c@x.org> <b@x.org>"
    assert extract_ids(header) == ["a@x.org", "b@x.org", "c@x.org"]


def test_extract_ids_ignores_comments_and_garbage_between_ids() -> None:
    """Comments, quoted words and junk between bracketed ids are ignored."""
    header = '(sent by client) <a@x.org> garbage, "Some One" <b@x.org> (trailing comment) ;;'
    assert extract_ids(header) == ["a@x.org", "b@x.org"]


def test_extract_ids_without_any_brackets() -> None:
    """When no id is bracketed, whitespace- or comma-separated tokens with `@` are taken."""
    assert extract_ids("a@x.org  B@Y.ORG,c@z.org junk") == ["a@x.org", "B@y.org", "c@z.org"]


def test_extract_ids_skips_bracketed_non_ids() -> None:
    """Bracketed text without `@` is not taken for an id."""
    assert extract_ids("<not-an-id> <a@x.org> <>") == ["a@x.org"]


def test_synthesize_id_is_stable() -> None:
    """The same headers and body always give the same synthetic id."""
    first = synthesize_id("From: a@x.org\nSubject: hi", b"body\r\n")
    second = synthesize_id("From: a@x.org\nSubject: hi", b"body\r\n")
    assert first == second


def test_synthesize_id_depends_on_body_and_headers() -> None:
    """A different body or a different header block gives a different synthetic id."""
    base = synthesize_id("From: a@x.org\nSubject: hi", b"body one")
    assert synthesize_id("From: a@x.org\nSubject: hi", b"body two") != base
    assert synthesize_id("From: b@x.org\nSubject: hi", b"body one") != base


def test_synthesize_id_is_already_canonical() -> None:
    """A synthetic id lives in the reserved domain and survives normalization unchanged."""
    synthetic = synthesize_id("Subject: Grüße", "Körper".encode())
    assert synthetic.endswith("@" + SYNTHETIC_DOMAIN)
    assert normalize_id(synthetic) == synthetic
    assert extract_ids(f"<{synthetic}>") == [synthetic]


@given(st.text())
def test_normalize_is_idempotent(raw: str) -> None:
    """Normalizing a normalized id changes nothing."""
    once = normalize_id(raw)
    if once is not None:
        assert normalize_id(once) == once


@given(st.text(alphabet=st.sampled_from('<>@ ,\r\n\tabcXYZ.()"-')))
def test_extract_ids_yields_unique_canonical_ids(header: str) -> None:
    """Every extracted id is canonical (stable under normalization, unbracketed, blank-free) and unique."""
    ids = extract_ids(header)
    assert len(ids) == len(set(ids))
    for message_id in ids:
        assert normalize_id(message_id) == message_id
        assert "@" in message_id
        assert not any(char in message_id for char in " \r\n\t")
        assert not message_id.startswith("<")
        assert not message_id.endswith(">")


def test_an_overlong_id_becomes_one_short_digest_for_every_spelling() -> None:
    endless = "a" * 5000
    short = normalize_id(f"<{endless}@Example.COM>")
    assert short is not None and short.endswith("@overlong-id.invalid") and len(short) < 80
    assert normalize_id(f" {endless}@example.com ") == short
    assert normalize_id(f"<{endless}b@example.com>") != short
    assert normalize_id("<" + "a" * 480 + "@example.com>") == "a" * 480 + "@example.com"
