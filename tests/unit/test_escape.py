"""The escaping functions, one per context, and `single_line`: the only way mail text reaches wikitext."""

from __future__ import annotations

import html
import re
import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bridge.core.markers import read_markers
from bridge.core.render.escape import (
    escape_argument,
    escape_attribute,
    escape_inline,
    escape_pre,
    single_line,
)
from bridge.core.render.page import message_marker

_NEVER_LITERAL = set("<>[]{}|~'=_")
_BARE_AMPERSAND = re.compile(r"&(?!#\d+;)")
_MAGIC_LINK = re.compile(r"\b(?:ISBN|RFC|PMID)\b")
# Characters the function drops: C0/C1 controls except tab and newline, line/paragraph separators, BOM.
_DROPPED = {chr(c) for c in range(0x20) if chr(c) not in "\t\n"} | {chr(c) for c in range(0x7F, 0xA0)}
_DROPPED |= {"\u2028", "\u2029", "\ufeff"}

_FRAGMENTS = st.sampled_from(
    [
        "ISBN",
        "RFC",
        "PMID",
        " ",
        "123",
        "_",
        "&",
        "#",
        ";",
        "&#60;",
        "&amp;",
        "{{",
        "}}",
        "[[",
        "~~~~",
        "'''",
        "==",
        "\r\n",
        "\r",
        "\n",
        "\x00",
        "\x85",
        "\u2028",
        "<!--",
        "</pre>",
    ]
)
_TEXTS = st.one_of(st.text(), st.lists(st.one_of(_FRAGMENTS, st.text(max_size=3))).map("".join))


def _expected_display(text: str) -> str:
    """What a reader must see: the text with CRLF/CR as LF and the dropped characters removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(char for char in text if char not in _DROPPED)


def test_dropped_set_matches_unicode_controls() -> None:
    """The test's model of dropped characters is exactly Cc minus tab/newline plus U+2028/2029/FEFF."""
    controls = {chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cc"} - {"\t", "\n"}
    assert controls | {"\u2028", "\u2029", "\ufeff"} == _DROPPED


@given(_TEXTS)
def test_escaped_text_contains_no_markup_characters(text: str) -> None:
    """No character that starts wiki markup survives, and `&` only opens a numeric reference."""
    escaped = escape_attribute(text)
    assert not _NEVER_LITERAL & set(escaped)
    assert not _BARE_AMPERSAND.search(escaped)


@given(_TEXTS)
@example("ISBN 123")
@example("RFC 2822 and PMID 42")
def test_escaped_text_displays_as_the_original(text: str) -> None:
    """Decoding the references gives back the text, minus dropped control characters, CRLF as LF."""
    assert html.unescape(escape_attribute(text)) == _expected_display(text)


@given(_TEXTS)
@example("_ISBN 123")
@example("x_RFC 2822")
def test_escaped_text_contains_no_magic_link_word(text: str) -> None:
    """ISBN, RFC and PMID never stand as separate words in the output, so no magic link can form."""
    assert not _MAGIC_LINK.search(escape_attribute(text))


@given(_TEXTS)
@example("2=x")
@example("a=b|c}}")
def test_a_template_argument_cannot_name_a_parameter_or_end_the_call(text: str) -> None:
    """A positional argument keeps no `=`, `|` or brace and reads as the one-line text."""
    escaped = escape_argument(single_line(text))
    assert not set("=|{}") & set(escaped)
    assert html.unescape(escaped) == html.unescape(escape_inline(single_line(text)))


def test_template_braces_are_escaped() -> None:
    """`{{foo}}` becomes numeric references for the braces."""
    assert escape_attribute("{{foo}}") == "&#123;&#123;foo&#125;&#125;"


def test_links_and_categories_are_escaped() -> None:
    """`[[Category:X]]` cannot add a category: brackets and the colon are references."""
    escaped = escape_attribute("[[Category:X]]")
    assert escaped == "&#91;&#91;Category&#58;X&#93;&#93;"


def test_behaviour_switch_is_escaped() -> None:
    """`__NOTOC__` loses its underscores, so it is not a behaviour switch."""
    assert escape_attribute("__NOTOC__") == "&#95;&#95;NOTOC&#95;&#95;"


def test_signature_tildes_are_escaped() -> None:
    """`~~~~` cannot become a signature."""
    assert escape_attribute("~~~~") == "&#126;" * 4


def test_closing_pre_cannot_escape_the_body() -> None:
    """`</pre>` in a body cannot close the `<pre>` element it sits in."""
    escaped = escape_attribute("</pre><script>x</script>")
    assert "</pre>" not in escaped
    assert "<" not in escaped
    assert escaped.startswith("&#60;/pre&#62;")


def test_html_comment_and_heading_are_escaped() -> None:
    """`<!--` and `== x ==` lose their markup characters."""
    assert escape_attribute("<!--") == "&#60;&#33;&#45;&#45;"
    assert escape_attribute("== x ==") == "&#61;&#61; x &#61;&#61;"


def test_existing_entity_is_shown_literally() -> None:
    """An entity written in the mail (`&lt;`) is displayed as typed, not decoded."""
    escaped = escape_attribute("&lt;b&gt;")
    assert escaped == "&#38;lt&#59;b&#38;gt&#59;"
    assert html.unescape(escaped) == "&lt;b&gt;"


@pytest.mark.parametrize("text", ["ISBN 123", "see RFC 2822", "PMID 42"])
def test_magic_link_words_are_defused(text: str) -> None:
    """ISBN/RFC/PMID followed by a number leave no literal magic word, yet display unchanged."""
    escaped = escape_attribute(text)
    assert not _MAGIC_LINK.search(escaped)
    assert html.unescape(escaped) == text


def test_isbn_is_escaped_as_single_reference() -> None:
    """`ISBN 123` becomes `&#73;SBN 123`: one reference for the first letter, nothing more."""
    assert escape_attribute("ISBN 123") == "&#73;SBN 123"


def test_magic_word_after_underscore_is_defused() -> None:
    """`_ISBN 123` (underscore becomes a reference, leaving a word boundary) is still defused."""
    escaped = escape_attribute("_ISBN 123")
    assert "ISBN 123" not in escaped
    assert html.unescape(escaped) == "_ISBN 123"


def test_magic_word_inside_a_word_is_untouched() -> None:
    """`XISBN` is no magic link and stays as written."""
    assert escape_attribute("XISBN 1") == "XISBN 1"


def test_line_breaks_are_kept_and_crlf_becomes_lf() -> None:
    """CRLF and lone CR become LF; LF and tab are kept."""
    assert escape_attribute("a\r\nb\rc\nd\te") == "a\nb\nc\nd\te"


def test_control_characters_are_dropped() -> None:
    """NUL, ESC, DEL, C1 controls, U+2028 and the BOM are removed."""
    assert escape_attribute("a\x00b\x1bc\x7fd\x85e\u2028f\ufeffg") == "abcdefg"


def test_plain_text_is_unchanged() -> None:
    """Letters, digits, umlauts and ordinary punctuation pass through."""
    assert (
        escape_attribute("Grüße, Köln 2024. (ok) @home $5 + 3%?") == "Grüße, Köln 2024. (ok) @home $5 + 3%?"
    )


def test_single_line_collapses_whitespace_and_controls() -> None:
    """Newlines, tabs, control characters and runs of blanks become single spaces, ends trimmed."""
    assert single_line("  a\r\n\tb \x00 c\u2028d  \n") == "a b c d"


def test_single_line_of_blank_text_is_empty() -> None:
    """Text made only of white space and controls collapses to the empty string."""
    assert single_line(" \t\r\n\x00\x1b ") == ""


@given(st.text())
def test_single_line_has_no_line_breaks(text: str) -> None:
    """The result of single_line never contains a line break, tab, control or double space."""
    line = single_line(text)
    assert not any(char in _DROPPED or char in "\n\t" for char in line)
    assert "  " not in line
    assert line == line.strip()


# ---------------------------------------------------------------------------------------------
# Markers keep the attribute form, so pages written before context-aware escaping stay readable.


def test_marker_written_the_old_way_is_still_found() -> None:
    """A marker as pages have always carried it (numeric references) is found and read back."""
    old_page = '<div class="ewb-message" id="msg-0" data-message-id="CAF&#61;x&#45;1&#95;2@mail.example">'
    assert message_marker("CAF=x-1_2@mail.example") in old_page
    assert read_markers(old_page).message_ids == ("CAF=x-1_2@mail.example",)


# ---------------------------------------------------------------------------------------------
# Inside <pre>: only tags and entities are escaped.


@given(_TEXTS)
@example("&copy 2024 &paragraph &#60; &#x3c; &lt;")
def test_pre_text_has_no_tag_or_entity(text: str) -> None:
    """No `<` survives and no `&` can start a reference, and the text displays as written."""
    escaped = escape_pre(text)
    assert "<" not in escaped
    assert not re.search(r"&(?!amp;|lt;)(?=#|[A-Za-z][A-Za-z0-9]*;|copy|para)", escaped)
    assert html.unescape(escaped) == _expected_display(text)


def test_pre_keeps_wiki_markup_and_layout_literally() -> None:
    """Templates, signatures, switches, lists and leading blanks need nothing inside <pre>."""
    text = "{{subst:X}} ~~~~ __NOTOC__ [[Category:X]] ISBN 123\n  * a\n----\n{|\tb"
    assert escape_pre(text) == text


def test_pre_escapes_closing_tags_and_entities() -> None:
    """`</pre>`, `<nowiki>` and a written entity are shown as typed; a lone `&` stays as it is."""
    assert escape_pre("</PRE ><nowiki>&lt; R&D & co") == "&lt;/PRE >&lt;nowiki>&amp;lt; R&D & co"


def test_pre_drops_controls_and_normalizes_line_ends() -> None:
    """NUL and other controls go, CR and CRLF become LF, tabs stay."""
    assert escape_pre("a\x00b\r\nc\rd\te") == "ab\nc\nd\te"


# ---------------------------------------------------------------------------------------------
# One-line contexts: only what can open markup on a line.

_LINE_START = re.compile(r"(?m)^[*#:;=!\- \t]")
_INLINE_NEVER = re.compile(r"[<>\[\]{}|]|''|~~~|__|!!|=$|(?<=[A-Za-z]):(?=\S)", re.MULTILINE)


@given(_TEXTS)
@example("'a'' b'")
@example("x\n* y\n  z =")
def test_inline_text_opens_no_markup(text: str) -> None:
    """No markup character, quote pair, signature, switch, magic link or line-initial markup is left."""
    escaped = escape_inline(text)
    assert not _INLINE_NEVER.search(escaped)
    assert not _LINE_START.search(escaped)
    assert not _MAGIC_LINK.search(escaped)
    assert not re.search(r"&(?!amp;|lt;|gt;|#\d+;)(?=#|[A-Za-z][A-Za-z0-9]*;|copy|para)", escaped)
    assert not escaped.startswith("'") and not escaped.endswith("'")
    assert html.unescape(escaped) == _expected_display(text)


def test_inline_leaves_ordinary_text_alone() -> None:
    """Colons after numbers or before blanks, hyphens and apostrophes in words need no reference."""
    for text in ("TOP 1: Liefertermin", "AW: Angebot Förderband FB-200", "S7-1200, 10:15 Uhr", "don't"):
        assert escape_inline(text) == text


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("{{subst:X|a}}", "&#123;&#123;subst&#58;X&#124;a&#125;&#125;"),
        ("<b> & &lt;", "&lt;b&gt; & &amp;lt;"),
        ("__NOTOC__", "&#95;&#95;NOTOC&#95;&#95;"),
        ("~~~~ ok", "&#126;&#126;&#126;&#126; ok"),
        ("''x'' '''y'''", "&#39;&#39;x&#39;&#39; &#39;&#39;&#39;y&#39;&#39;&#39;"),
        ("----", "&#45;---"),
        ("== x ==", "&#61;= x =&#61;"),
        ("ISBN 978-3", "&#73;SBN 978-3"),
        ("see https://evil.example", "see https&#58;//evil.example"),
        ("a!!b", "a&#33;&#33;b"),
    ],
)
def test_inline_escapes_what_opens_markup(text: str, escaped: str) -> None:
    """Each kind of markup loses exactly the character that would open it."""
    assert escape_inline(text) == escaped
