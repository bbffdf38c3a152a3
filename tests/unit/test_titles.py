"""Page titles: every thread page stays one legal subpage below its mailbox's prefix."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bridge.core.render.titles import MAX_TITLE_BYTES, NO_SUBJECT, page_title
from bridge.core.subjects import base_subject

PREFIX = "Sales/Mail"
_FORBIDDEN = set("#<>[]|{}")


def _segment(title: str, prefix: str = PREFIX) -> str:
    assert title.startswith(prefix + "/"), title
    return title[len(prefix) + 1 :]


def _assert_legal(title: str, prefix: str = PREFIX) -> None:
    segment = _segment(title, prefix)
    assert title.count("/") == prefix.count("/") + 1, title
    assert "/" not in segment
    assert segment not in {"", ".", ".."}, title
    assert not _FORBIDDEN & set(title), title
    assert not any(unicodedata.category(char) == "Cc" for char in title), title
    assert len(title.encode("utf-8")) <= MAX_TITLE_BYTES
    # MediaWiki's own title rules: no signature tildes, no entity or percent-escape look-alikes.
    assert "~~~" not in title, title
    assert not re.search(r"&[A-Za-z0-9\x80-\U0010ffff]+;", title), title
    assert not re.search(r"%[0-9A-Fa-f]{2}", title), title


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Angebot", "Angebot"),
        ("Re: Re: RE: re: Angebot", "Angebot"),
        ("AW: WG: Angebot", "Angebot"),
        ("Fwd: Fw: Angebot", "Angebot"),
        ("SV: Antw: Antwort: Angebot", "Angebot"),
        ("Re[2]: Angebot", "Angebot"),
        ("Re[12]: AW(3): Angebot", "Angebot"),
        ("  Re :  AW:Angebot  ", "Angebot"),
        ("Re: Re:", ""),
        ("Angebot", "Angebot"),
    ],
)
def test_base_subject_strips_reply_and_forward_prefixes(subject: str, expected: str) -> None:
    """Repeated, counted and mixed reply/forward markers are removed from the front."""
    assert base_subject(subject) == expected


@pytest.mark.parametrize("subject", ["Preisliste", "Area: Nord", "Review: Entwurf", "Angebot Re: x"])
def test_base_subject_keeps_words_that_only_look_like_prefixes(subject: str) -> None:
    """Words that merely start with or contain `re` are not reply markers."""
    assert base_subject(subject) == subject


def test_base_subject_collapses_line_breaks() -> None:
    """A folded subject becomes one line."""
    assert base_subject("Re: first\r\n second\tthird") == "first second third"


def test_plain_subject_becomes_segment() -> None:
    """An ordinary subject becomes the single segment under the prefix, reply marker removed."""
    assert page_title(PREFIX, "AW: Angebot für Köln") == "Sales/Mail/Angebot für Köln"


@pytest.mark.parametrize(
    "subject",
    [
        "MediaWiki:Common.js",
        "User:Admin",
        "../../Main Page",
        "..",
        ".",
        "Talk:x",
        "#<>[]|{}",
        "a\x00b\x01c\x1bd\x7fe\x85f\u2028g",
        "&amp;",
        "&#60;script&#62;",
        "%41%2F",
        "~~~~",
        "~~~~~ signature",
        "a/b/c",
        "/",
        "Re: ../secret",
        ":Main Page",
        "   ",
        "\ufeff",
    ],
)
def test_hostile_subject_stays_one_legal_segment(subject: str) -> None:
    """A hostile subject yields a legal title with exactly one segment below the prefix."""
    _assert_legal(page_title(PREFIX, subject))


def test_namespace_looking_subject_stays_under_prefix() -> None:
    """`MediaWiki:Common.js` cannot leave the prefix: it becomes a subpage of it."""
    assert page_title(PREFIX, "MediaWiki:Common.js") == "Sales/Mail/MediaWiki:Common.js"


def test_path_traversal_subject_cannot_climb() -> None:
    """`../../Main Page` becomes one segment without any slash."""
    title = page_title(PREFIX, "../../Main Page")
    assert _segment(title) == "..-..-Main Page"


@pytest.mark.parametrize("subject", ["..", ".", "...", "Re: ..", ":..", ":.", ": :..", "::."])
def test_dot_segments_never_form_a_relative_path(subject: str) -> None:
    """A subject of dots (also behind colons or reply markers) never yields `Prefix/.` or `Prefix/..`."""
    title = page_title(PREFIX, subject)
    assert _segment(title) not in {".", ".."}
    assert not title.endswith(("/.", "/.."))


def test_brackets_and_pipes_are_replaced() -> None:
    """`#<>[]|{}` are replaced, leaving no characters: the title uses the no-subject text."""
    assert page_title(PREFIX, "#<>[]|{}") == f"{PREFIX}/{NO_SUBJECT}"


def test_entity_look_alike_is_defused() -> None:
    """`&amp;` is kept readable but no longer looks like an HTML entity."""
    segment = _segment(page_title(PREFIX, "Fish &amp; Chips"))
    assert "&amp;" not in segment
    assert segment.startswith("Fish &")


def test_percent_escape_is_defused() -> None:
    """`%41` cannot be decoded into another character by MediaWiki."""
    segment = _segment(page_title(PREFIX, "100%41"))
    assert "%41" not in segment
    assert "41" in segment


def test_tildes_are_shortened() -> None:
    """Signature tildes `~~~~` cannot survive in a title."""
    assert "~~~" not in page_title(PREFIX, "~~~~")


@pytest.mark.parametrize("subject", ["", "   ", "Re:", "AW: Re: ", "\x00\x01"])
def test_empty_subject_gives_no_subject(subject: str) -> None:
    """An empty subject (also after stripping reply markers) becomes `(no subject)`."""
    assert page_title(PREFIX, subject) == f"{PREFIX}/{NO_SUBJECT}"


def test_long_german_subject_is_truncated_to_valid_utf8() -> None:
    """A 1000-character German subject is cut to at most 255 UTF-8 bytes on a character boundary."""
    subject = ("Größenänderung der Bürofläche " * 40)[:1000]
    title = page_title(PREFIX, subject)
    encoded = title.encode("utf-8")
    assert len(encoded) <= MAX_TITLE_BYTES
    assert encoded.decode("utf-8") == title
    assert "\ufffd" not in title
    assert title.startswith(f"{PREFIX}/Größenänderung der Bürofläche")
    assert len(encoded) > MAX_TITLE_BYTES - 4  # cut near the limit, not far below it
    _assert_legal(title)


def test_truncation_never_splits_a_four_byte_character() -> None:
    """Emoji (4 UTF-8 bytes each) are cut whole, never leaving half a character."""
    title = page_title(PREFIX, "😀" * 300)
    assert len(title.encode()) <= MAX_TITLE_BYTES
    assert set(_segment(title)) == {"😀"}


def test_attempt_two_gets_counter_suffix() -> None:
    """Attempt 2 appends ` (2)`; attempt 1 has no suffix."""
    assert page_title(PREFIX, "Angebot", attempt=2) == "Sales/Mail/Angebot (2)"
    assert page_title(PREFIX, "Angebot", attempt=1) == "Sales/Mail/Angebot"


def test_attempt_suffix_survives_truncation() -> None:
    """A long subject on attempt 2 still ends with ` (2)` and stays within 255 bytes."""
    title = page_title(PREFIX, "Ä" * 1000, attempt=2)
    assert title.endswith(" (2)")
    assert len(title.encode()) <= MAX_TITLE_BYTES
    assert title != page_title(PREFIX, "Ä" * 1000, attempt=1)


def test_nested_prefix_keeps_its_depth() -> None:
    """A deeper prefix gets exactly one more level, whatever the subject."""
    prefix = "Team/Vertrieb/Post"
    title = page_title(prefix, "a/b/../c")
    assert title.count("/") == 3
    _assert_legal(title, prefix)


_FRAGMENTS = st.sampled_from(
    [":", ".", "..", "/", "Re: ", "AW: ", "&amp;", "&#", ";", "%41", "~", "_", " ", "\t", "\n", "#", "|", "Ä"]
)
_SUBJECTS = st.one_of(st.text(), st.lists(st.one_of(_FRAGMENTS, st.text(max_size=3))).map("".join))


@given(
    prefix=st.sampled_from(["Mail", PREFIX, "Team/Vertrieb/Post", "Ä" * 70]),
    subject=_SUBJECTS,
    attempt=st.integers(min_value=1, max_value=1000),
)
@example(prefix=PREFIX, subject="Re: :..", attempt=1)
def test_title_is_always_one_legal_segment(prefix: str, subject: str, attempt: int) -> None:
    """For any subject the title is one legal, bounded segment directly below the prefix."""
    title = page_title(prefix, subject, attempt)
    _assert_legal(title, prefix)
    if attempt > 1:
        assert title.endswith(f" ({attempt})")


@given(subject=st.text(alphabet=st.sampled_from(list(":./ ~")), max_size=8))
@example(subject=":..")
def test_title_from_punctuation_soup_is_legal(subject: str) -> None:
    """Short subjects made only of dots, colons, slashes, spaces and tildes give legal titles."""
    _assert_legal(page_title(PREFIX, subject))
