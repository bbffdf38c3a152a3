"""Values from hostile headers that would not fit a database index are capped in the core."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.core.headers import addresses
from bridge.core.subjects import subject_key


@given(st.text(min_size=301, max_size=3000))
def test_a_subject_key_always_fits_and_still_tells_subjects_apart(subject: str) -> None:
    key = subject_key(subject)
    assert len(key) <= 300
    assert subject_key(subject) == key  # the same subject, the same key


def test_long_subjects_differing_only_at_the_end_get_different_keys() -> None:
    base = "Angebot " * 100
    assert subject_key(base + "A") != subject_key(base + "B")
    assert subject_key("Re: " + base + "A") == subject_key(base + "A")


def test_an_address_longer_than_smtp_allows_is_shown_but_not_kept_as_an_address() -> None:
    endless = "x" * 5000 + "@example.de"
    [(name, address)] = addresses([f"<{endless}>"])
    assert address == "" and name.startswith("xxx") and len(name) < 80
    assert addresses([f"Anna <{endless}>, b@example.de"]) == (("Anna", ""), ("", "b@example.de"))
    assert addresses(["Bo <b@example.de>"]) == (("Bo", "b@example.de"),)
