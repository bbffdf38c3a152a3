"""Thread page wikitext: intro, categories, one marked section per message, hostile text inert."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bridge.core.model import Message
from bridge.core.render.page import (
    RenderOptions,
    message_anchor,
    message_marker,
    render_message,
    render_new_page,
)
from bridge.core.render.templates import FIELD_TEMPLATE
from bridge.core.render.titles import NO_SUBJECT

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def _message(
    message_id: str,
    *,
    minutes: int = 0,
    subject: str = "Angebot",
    sender_name: str = "Jürgen Müller",
    sender_address: str = "jm@example.org",
    body: str = "Hallo zusammen",
) -> Message:
    return Message(
        message_id=message_id,
        references=(),
        subject=subject,
        sender_name=sender_name,
        sender_address=sender_address,
        date=T0 + timedelta(minutes=minutes),
        body_text=body,
    )


OPTIONS = RenderOptions(mailbox="sales")
FIELD = "{{" + FIELD_TEMPLATE + "|"


def _page(messages: list[Message], mailbox: str, categories: list[str]) -> str:
    options = RenderOptions(mailbox=mailbox)
    return render_new_page([render_message(m, options) for m in messages], options, categories)


def test_page_starts_with_intro_naming_the_mailbox() -> None:
    """The page opens with the italic intro that names the mailbox."""
    text = _page([_message("a@x.org")], "sales", [])
    first_line = text.splitlines()[0]
    assert first_line.startswith("''This conversation was published from the sales mailbox")
    assert first_line.endswith("''")


def test_one_category_line_per_category() -> None:
    """Every configured category gets exactly one `[[Category:…]]` line, in order."""
    text = _page([_message("a@x.org")], "sales", ["Mail", "Vertrieb Nord"])
    lines = [line for line in text.splitlines() if line.startswith("[[Category:")]
    assert lines == ["[[Category:Mail]]", "[[Category:Vertrieb Nord]]"]
    assert text.count("[[") == 2


def test_no_category_lines_without_categories() -> None:
    """Without categories the page has no link markup at all."""
    assert "[[" not in _page([_message("a@x.org")], "sales", [])


def test_one_heading_and_marker_per_message() -> None:
    """Each message has one `== subject ==` heading and its exact marker exactly once."""
    messages = [_message(f"m{i}@x.org", minutes=i, subject=f"Teil {i}") for i in range(3)]
    text = _page(messages, "sales", ["Mail"])
    headings = [line for line in text.splitlines() if re.fullmatch(r"== .+ ==", line)]
    assert headings == ["== Teil 0 ==", "== Teil 1 ==", "== Teil 2 =="]
    for message in messages:
        assert text.count(message_marker(message.message_id)) == 1
        assert text.count(f'id="{message_anchor(message.message_id)}"') == 1


def test_section_shows_sender_date_and_body() -> None:
    """A section shows sender (name and address), the local and ISO date and the body inside `<pre>`."""
    text = render_message(_message("a@x.org", body="Zeile 1\nZeile 2"), OPTIONS)
    assert f"{FIELD}From|Jürgen Müller &lt;jm@example.org&gt;}}}}" in text
    assert f"{FIELD}Date|1 March 2024, 09:00 (2024-03-01T09:00:00+00:00)}}}}" in text
    assert ">Zeile 1\nZeile 2</pre>" in text


def test_sender_address_used_when_name_missing() -> None:
    """Without a display name the address is shown; without both, `(unknown sender)`."""
    assert f"{FIELD}From|jm@example.org}}}}" in render_message(_message("a@x.org", sender_name=""), OPTIONS)
    unknown = render_message(_message("a@x.org", sender_name=" ", sender_address=""), OPTIONS)
    assert f"{FIELD}From|(unknown sender)}}}}" in unknown


def test_an_equals_sign_in_a_field_cannot_name_a_template_parameter() -> None:
    """Header values are positional template arguments: their `=` is a reference (`2=` stays text)."""
    text = render_message(_message("a@x.org", sender_name="2=x", sender_address="srs0=ab=cd@x.org"), OPTIONS)
    assert f"{FIELD}From|2&#61;x &lt;srs0&#61;ab&#61;cd@x.org&gt;}}}}" in text


def test_empty_subject_and_body_get_placeholders() -> None:
    """An empty subject shows `(no subject)` and a blank body `(empty message)`."""
    text = render_message(_message("a@x.org", subject="  ", body=" \n "), OPTIONS)
    assert f"== {NO_SUBJECT} ==" in text
    assert "''(empty message)''" in text


def test_marker_is_the_escaped_id() -> None:
    """`message_marker` writes the id through the wikitext escaping."""
    assert message_marker("abc@x.org") == 'data-message-id="abc@x.org"'


def test_marker_escapes_quotes_angle_brackets_and_braces() -> None:
    """An id with `"`, `<` or `{{` cannot break out of the attribute or start a template."""
    marker = message_marker('a"b<c>{{d}}@x.org')
    assert marker == 'data-message-id="a&#34;b&#60;c&#62;&#123;&#123;d&#125;&#125;@x.org"'
    inner = marker[len('data-message-id="') : -1]
    for char in '"<>{}':
        assert char not in inner
    assert marker.count('"') == 2


def test_marker_differs_for_different_ids() -> None:
    """Distinct ids give distinct markers and anchors."""
    assert message_marker("a@x.org") != message_marker("b@x.org")
    assert message_anchor("a@x.org") != message_anchor("b@x.org")
    assert re.fullmatch(r"msg-[0-9a-f]{16}", message_anchor("a@x.org"))


HOSTILE = "{{Delete}} [[Category:Spam]] </div></pre> ~~~~ __NOTOC__ <script>x</script> == H == '''b''' |}"


def test_hostile_content_stays_inert() -> None:
    """Hostile subject, sender, body and mailbox add no link, template, closing tag or signature."""
    message = Message(
        message_id='evil"{{x}}<y>@x.org',
        references=(),
        subject=HOSTILE,
        sender_name=HOSTILE,
        sender_address="evil@x.org",
        date=T0,
        body_text=HOSTILE + "\n" + HOSTILE,
    )
    categories = ["Mail"]
    page = _page([message, _message("ok@x.org", minutes=5)], "sales]]{{x}}", categories)
    # Inside <pre> no markup is parsed: only its closing tag or an entity could matter there.
    text = re.sub(r"(?s)(<pre [^>]*>).*?(</pre>)", r"\1\2", page)
    assert "<" not in "".join(re.findall(r"(?s)<pre [^>]*>(.*?)</pre>", page))
    assert text.count("[[") == len(categories)
    assert text.count("]]") == len(categories)
    assert text.count("{{") == text.count(FIELD) == 4  # From and Date of each message, nothing else
    assert text.count("}}") == 4
    assert "~~~" not in text
    assert "__NOTOC__" not in text
    assert "<script" not in text
    assert text.count("</div>") == 2  # the message block of each message, none from the mail
    assert text.count("</pre>") == 2
    assert text.count("<pre ") == 2
    headings = [line for line in text.splitlines() if line.startswith("==")]
    assert len(headings) == 2


def test_multiline_subject_is_one_heading() -> None:
    """A subject with line breaks cannot start extra lines (headings, lists) on the page."""
    text = render_message(_message("a@x.org", subject="first\n== injected ==\n* item"), OPTIONS)
    headings = [line for line in text.splitlines() if line.startswith("==")]
    assert len(headings) == 1
    assert not any(line.startswith("*") for line in text.splitlines())


def test_page_ends_with_newline() -> None:
    """The rendered sections end with a newline, so an appended block starts on its own line."""
    assert _page([_message("a@x.org")], "sales", []).endswith("</div>\n")
