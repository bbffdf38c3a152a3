"""Reading the bridge's markers back from page wikitext: exact round trip, look-alikes ignored."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.core.markers import read_markers
from bridge.core.msgid import normalize_id
from bridge.core.render.page import merge_marker, message_marker, render_continuation_link, render_merge_note

HOSTILE_IDS = [
    "plain@example.de",
    'quote"and<angle>@x',
    "a&#58;b@x",
    "ISBN 123 RFC 822@x",
    "{{template}}|[[link]]@x",
    "  leading blanks@x",
    "üñí©ødé@例え.jp",
]


def _block(message_id: str) -> str:
    return f'<div class="ewb-message" id="msg-1" {message_marker(message_id)}>\ntext\n</div>'


def _canonical(message_id: str) -> str:
    return normalize_id(message_id) or message_id


def test_message_ids_round_trip_in_page_order_once_each() -> None:
    """Every id the bridge marks is read back in its canonical form, in page order, duplicates once."""
    text = "\n\n".join(_block(message_id) for message_id in [*HOSTILE_IDS, HOSTILE_IDS[0]])
    assert read_markers(text).message_ids == tuple(_canonical(message_id) for message_id in HOSTILE_IDS)


# What the bridge marks: ids as written or canonical, both printable ASCII (see headers.original_id).
_WRITTEN_IDS = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60)


@given(_WRITTEN_IDS)
def test_any_marked_id_is_read_back_canonical(message_id: str) -> None:
    """Whatever the id, reading the page gives its canonical form (the store's spelling)."""
    (found,) = read_markers(_block(message_id)).message_ids
    assert found == _canonical(message_id)


def test_ids_as_written_and_older_canonical_markers_name_one_message() -> None:
    """A marker keeps the domain's case as the mail wrote it; an older page's lower-cased one still counts."""
    text = "\n\n".join(_block(mid) for mid in ["AbC@Example.COM", "AbC@example.com", "old@example.de"])
    assert read_markers(text).message_ids == ("AbC@example.com", "old@example.de")


def test_look_alikes_typed_by_people_are_not_markers() -> None:
    """Markers in another form than the bridge writes (unescaped, other quotes) do not count."""
    text = "\n".join(
        [
            'data-message-id="a:b@x"',  # the bridge writes ':' as &#58;
            "data-message-id='single@x'",
            'xdata-message-id="glued@x"',
            _block("real@x"),
        ]
    )
    assert read_markers(text).message_ids == ("real@x",)


def test_merge_and_continuation_notes_are_read() -> None:
    """The merge note names the page a thread continues on; the last note counts."""
    text = _block("a@x") + render_merge_note("Sales/Mail/Old: one") + render_merge_note("Sales/Mail/Oldest")
    markers = read_markers(text)
    assert markers.merged_into == "Sales/Mail/Oldest"
    assert markers.continued_on is None
    assert merge_marker("Sales/Mail/Oldest") in text
    continued = read_markers(_block("b@x") + render_continuation_link("Sales/Mail/Long: Q&A (part 2)", "de"))
    assert continued.continued_on == "Sales/Mail/Long: Q&A (part 2)"


def test_page_without_markers() -> None:
    """A person's page under the prefix has no markers."""
    assert read_markers("== Notes ==\nSome text with data-message-id in prose.\n").message_ids == ()
