"""Continuation pages (pure parts): page capacity, splitting sections, excerpts, part titles and links."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bridge.core.render.page import (
    FileRef,
    RenderOptions,
    continuation_marker,
    render_continuation_link,
    render_new_page,
    render_shortened_note,
)
from bridge.core.render.parts import (
    ELLIPSIS,
    MAX_EXCERPT_BYTES,
    Rooms,
    byte_size,
    excerpt,
    fit_excerpt,
    page_capacity,
    section_cost,
    split_sections,
)
from bridge.core.render.titles import MAX_TITLE_BYTES, page_title

PREFIX = "Dev/Mail"


def test_capacity_keeps_five_percent_or_two_kilobytes_free() -> None:
    assert page_capacity(2048 * 1024) == 2048 * 1024 - 2048 * 1024 // 20
    assert page_capacity(16 * 1024) == 16 * 1024 - 2048
    assert page_capacity(1024) == 0


def test_sections_fill_the_current_page_then_new_parts_in_order() -> None:
    assert split_sections([40, 40, 40, 40, 40], Rooms(current=90, new_page=100)) == [[0, 1], [2, 3], [4]]


def test_a_full_current_page_leaves_the_first_chunk_empty() -> None:
    assert split_sections([40, 40], Rooms(current=10, new_page=100)) == [[], [0, 1]]


def test_a_new_thread_never_starts_with_an_empty_page() -> None:
    assert split_sections([150, 40], Rooms(current=None, new_page=100)) == [[0], [1]]


def test_a_section_larger_than_a_page_gets_a_part_of_its_own() -> None:
    assert split_sections([40, 150, 40], Rooms(current=100, new_page=100)) == [[0], [1], [2]]


@given(
    st.lists(st.integers(1, 120), max_size=40),
    st.one_of(st.none(), st.integers(-50, 100)),
    st.integers(100, 300),
)
def test_splitting_keeps_every_section_once_in_order_and_within_the_rooms(
    costs: list[int], current: int | None, new_page: int
) -> None:
    chunks = split_sections(costs, Rooms(current, new_page))
    assert [index for chunk in chunks for index in chunk] == list(range(len(costs)))
    assert all(chunks[1:]), "only the chunk for the current page may be empty"
    for number, chunk in enumerate(chunks):
        room = (new_page if current is None else current) if number == 0 else new_page
        assert sum(costs[i] for i in chunk) <= room or len(chunk) <= 1


def test_excerpts_cut_at_a_line_break_and_say_so() -> None:
    text = "".join(f"line {n}\n" for n in range(100))
    short = excerpt(text, 50)
    assert short.endswith(ELLIPSIS)
    assert short.startswith("line 0\nline 1\n")
    assert byte_size(short) <= 50 + len(ELLIPSIS.encode())
    assert "\n".join(short.split("\n")[:-1]) in text
    assert excerpt("short", 50) == "short"


def test_excerpts_never_split_a_character() -> None:
    assert excerpt("ä" * 100, 51) == "ä" * 25 + ELLIPSIS


def test_fit_excerpt_halves_until_the_rendered_section_fits() -> None:
    # Escaping can lengthen text fivefold: the rendering here does exactly that.
    calls: list[int] = []

    def render(text: str) -> str:
        calls.append(byte_size(text))
        return "HEAD " + text.replace("{", "&#123;")

    section = fit_excerpt(render, "{" * 10_000, 1000)
    assert section_cost(section) <= 1000
    assert calls[0] <= 250 + len(ELLIPSIS.encode()) and calls == sorted(calls, reverse=True)


def test_fit_excerpt_starts_at_most_at_the_excerpt_cap() -> None:
    sizes: list[int] = []

    def render(text: str) -> str:
        sizes.append(byte_size(text))
        return text

    fit_excerpt(render, "x" * 10**6, 10**7)
    assert sizes == [MAX_EXCERPT_BYTES + len(ELLIPSIS.encode())]


def test_part_titles_by_language() -> None:
    assert page_title(PREFIX, "Re: Build broken", part=2) == "Dev/Mail/Build broken (part 2)"
    assert page_title(PREFIX, "AW: Angebot", part=3, language="de") == "Dev/Mail/Angebot (Teil 3)"
    assert page_title(PREFIX, "Angebot", attempt=2, part=2, language="de") == "Dev/Mail/Angebot (Teil 2) (2)"
    assert page_title(PREFIX, "Angebot", part=1, language="de") == "Dev/Mail/Angebot"


def test_part_titles_of_a_first_page_title_keep_its_name() -> None:
    first = page_title(PREFIX, "Re: [PATCH] mm: fix & clean up 100%41", attempt=2)
    segment = first.rpartition("/")[2]
    assert page_title(PREFIX, segment, part=2) == f"{first} (part 2)"


@given(st.text(min_size=1, max_size=400), st.integers(2, 10_000), st.sampled_from(["en", "de"]))
def test_part_titles_stay_in_the_prefix_and_within_255_bytes(subject: str, part: int, language: str) -> None:
    title = page_title(PREFIX, subject, 1, part, language)
    assert title.startswith(PREFIX + "/")
    assert "/" not in title[len(PREFIX) + 1 :]
    assert len(title.encode()) <= MAX_TITLE_BYTES
    assert title.endswith(f" (part {part})" if language == "en" else f" (Teil {part})")


def test_a_continuation_page_links_back_first_and_keeps_the_categories() -> None:
    options = RenderOptions(mailbox="dev", language="de")
    text = render_new_page(["== A ==\nx"], options, ["Dev mail"], previous="Dev/Mail/Build")
    assert text.startswith("<div class=\"ewb-continued-from\">\n''Fortsetzung von [[Dev/Mail/Build]]''")
    assert "[[Category:Dev mail]]" in text
    assert "ewb-continued-from" not in render_new_page(["x"], options, ["Dev mail"])


def test_the_link_to_the_next_part_carries_its_marker() -> None:
    note = render_continuation_link("Dev/Mail/Build (part 2)")
    assert continuation_marker("Dev/Mail/Build (part 2)") in note
    assert "Continued on [[Dev/Mail/Build (part 2)]]." in note
    assert "Fortsetzung: [[Dev/Mail/Build (Teil 2)]]" in render_continuation_link(
        "Dev/Mail/Build (Teil 2)", "de"
    )


def test_the_shortened_note_links_the_full_text_or_says_why_not() -> None:
    linked = render_shortened_note(FileRef("File:Mail-0123456789abcdef-Log.txt"), "en")
    assert "[[Media:Mail-0123456789abcdef-Log.txt]]" in linked
    refused = render_shortened_note(FileRef(None, "the wiki does not accept .txt files [[x]]"), "de")
    assert "nicht hochgeladen" in refused and "[[x]]" not in refused
