"""Forgetting on a page's wikitext: pages rendered by the bridge, then rewritten (bridge/core/forget.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.forget import ForgetRequest, file_names, forget_on_page, message_blocks, names_of
from bridge.core.markers import read_markers
from bridge.core.model import Attachment, Message
from bridge.core.render.page import FileRef, RenderOptions, render_message, render_new_page
from bridge.errors import ForgetError

ANNA = "anna.schmidt@example.com"
OPTIONS = RenderOptions(mailbox="vertrieb", language="de")


def _message(number: int, sender: tuple[str, str], body: str, **extra: object) -> Message:
    return Message(
        message_id=f"m{number}@example.com",
        references=(),
        subject=f"Angebot {number}",
        sender_name=sender[0],
        sender_address=sender[1],
        date=datetime(2026, 11, number, 9, 0, tzinfo=UTC),
        body_text=body,
        **extra,  # type: ignore[arg-type]
    )


def _page() -> str:
    pdf = Attachment(filename="angebot.pdf", content_type="application/pdf", data=b"%PDF")
    files = {pdf.sha256: FileRef("File:Angebot-aaaa.pdf")}
    sections = [
        render_message(
            _message(1, ("Anna Schmidt", ANNA), "Hallo Bernd,\nanbei das Angebot.", attachments=(pdf,)),
            OPTIONS,
            files,
        ),
        render_message(
            _message(
                2,
                ("Bernd Weber", "bernd@example.com"),
                "Danke Anna! Rückfragen an anna.schmidt@example.com.",
                to=(("Anna Schmidt", ANNA), ("Carla Roth", "carla@example.com")),
            ),
            OPTIONS,
        ),
        render_message(_message(3, ("Anna Schmidt", "Anna.Schmidt@Example.com"), "Gern."), OPTIONS),
    ]
    page = render_new_page(sections, OPTIONS, ["Vertrieb"])
    # A person's own text between the blocks.
    return page.replace("== Angebot 2 ==", "Ein Kommentar von Alice.\n\n== Angebot 2 ==")


def test_blocks_are_found_with_their_headings() -> None:
    page = _page()
    blocks = message_blocks(page)
    assert [block.message_id for block in blocks] == ["m1@example.com", "m2@example.com", "m3@example.com"]
    assert all(block.text(page).startswith("== Angebot") for block in blocks)
    assert all(block.text(page).endswith("</div>") for block in blocks)


def test_forgetting_a_person_removes_their_messages_name_and_address() -> None:
    page = _page()
    request = ForgetRequest.of(addresses=[ANNA.upper()]).with_names(names_of(page, frozenset([ANNA])))
    rewrite = forget_on_page(page, request, "de", "2026-12-01")
    assert rewrite.forgotten_ids == ("m1@example.com", "m3@example.com")
    assert rewrite.scrubbed_blocks == 1
    assert rewrite.files == {"Angebot-aaaa.pdf"}
    text = rewrite.text
    assert "anna.schmidt@example.com" not in text.lower()
    assert "Anna Schmidt" not in text
    assert "anbei das Angebot" not in text and "Gern." not in text
    assert text.count("Nachricht auf Wunsch der Person entfernt (2026-12-01).") == 2
    # Other people, the human comment and every marker stay: the messages count as published.
    assert "Carla Roth" in text and "Bernd Weber" in text and "Ein Kommentar von Alice." in text
    assert read_markers(text).message_ids == read_markers(page).message_ids
    assert "[[Category:Vertrieb]]" in text


def test_forgetting_is_idempotent_and_old_revisions_are_recognized() -> None:
    page = _page()
    request = ForgetRequest.of(addresses=[ANNA])
    once = forget_on_page(page, request, "de", "2026-12-01")
    again = forget_on_page(once.text, request, "de", "2026-12-02")
    assert not again.changed(once.text)
    assert once.changed(page)  # the page before: a revision that reveals the person


def test_forgetting_one_message_keeps_the_sender_elsewhere() -> None:
    page = _page()
    rewrite = forget_on_page(page, ForgetRequest.of(message_ids=["<m3@EXAMPLE.com>"]), "en", "2026-12-01")
    assert rewrite.forgotten_ids == ("m3@example.com",)
    assert "Message removed at the person's request (2026-12-01)." in rewrite.text
    assert "anbei das Angebot" in rewrite.text
    assert rewrite.scrubbed_blocks == 0


def test_a_block_broken_by_an_edit_stops_forgetting() -> None:
    page = _page()
    broken = page.replace("</div>\n\n== Angebot 2", "\n\n== Angebot 2", 1)
    broken = broken.replace("</div>", "", 3)
    with pytest.raises(ForgetError, match="not closed"):
        forget_on_page(broken, ForgetRequest.of(addresses=[ANNA]), "de", "2026-12-01")


def test_a_look_alike_marker_typed_by_a_person_is_not_a_block() -> None:
    page = _page() + '\n<div data-message-id="m1&#64;example.com">Alice zitiert</div>\n'
    assert len(message_blocks(page)) == 3


def test_file_names_from_links_and_galleries() -> None:
    text = '[[Media:A.pdf|a]]\n<gallery mode="packed">\nDatei:B.png|b\nFile:C.jpg|c\n</gallery>'
    assert file_names(text) == {"A.pdf", "B.png", "C.jpg"}


_hostile = st.text(max_size=60)  # any code point a header can carry (no lone surrogates)


@settings(max_examples=150, deadline=None)
@given(name=_hostile, body=_hostile, other=_hostile)
def test_hostile_names_and_bodies_never_leak_or_break(name: str, body: str, other: str) -> None:
    sections = [
        render_message(_message(1, (name, ANNA), body), OPTIONS),
        render_message(_message(2, (other, "x@example.org"), body, cc=((name, ANNA),)), OPTIONS),
    ]
    page = render_new_page(sections, OPTIONS, [])
    rewrite = forget_on_page(page, ForgetRequest.of(addresses=[ANNA]), "de", "2026-12-01")
    assert rewrite.forgotten_ids == ("m1@example.com",)
    assert ANNA not in rewrite.text.lower()
    assert read_markers(rewrite.text).message_ids == read_markers(page).message_ids
    assert not forget_on_page(rewrite.text, ForgetRequest.of(addresses=[ANNA]), "de", "x").changed(
        rewrite.text
    )


def test_header_fields_of_both_template_forms_are_cleaned() -> None:
    old = "{{Email-wiki-bridge field|label=An|value=Anna &lt;a@x.de&gt;, Bo &lt;b@x.de&gt;}}"
    new = "{{Ewb field|An|Anna &lt;a@x.de&gt;, Bo &lt;b@x.de&gt;}}"
    opening = '<div class="ewb-message" id="msg-1" data-message-id="m9@x.de">'
    for line, kept in (
        (old, "{{Email-wiki-bridge field|label=An|value=Bo &lt;b@x.de&gt;}}"),
        (new, "{{Ewb field|An|Bo &lt;b@x.de&gt;}}"),
    ):
        page = f"== Re ==\n{opening}\n{{{{Ewb field|Von|Bo &lt;b@x.de&gt;}}}}\n{line}\n</div>\n"
        rewrite = forget_on_page(page, ForgetRequest.of(addresses=["A@x.de"]), "de", "2026-12-01")
        assert rewrite.scrubbed_blocks == 1 and kept in rewrite.text and "a@x.de" not in rewrite.text
