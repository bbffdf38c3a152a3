"""Thread pages as wikitext (pure): one section per message, each marked with its Message-ID.

The marker `data-message-id="…"` is written in one canonical, escaped form of the id as the mail
wrote it (domain case kept), so the bridge can find on the page whether a message is already
there (crash recovery, after normalizing what it reads) and a person can search for the id.
Mail content enters only through the functions of `escape`, the HTML writer (which uses them)
and titles the bridge chose itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bridge.core.mime import SIGNATURE_KINDS
from bridge.core.model import Attachment, CalendarEvent, Message
from bridge.core.msgid import normalize_id
from bridge.core.render.escape import (
    escape_argument,
    escape_attribute,
    escape_inline,
    escape_pre,
    single_line,
)
from bridge.core.render.html import WikitextWriter, html_to_text
from bridge.core.render.labels import format_date, format_size, label
from bridge.core.render.pandoc import html_to_blocks
from bridge.core.render.people import AddressDisplay, PeopleLinks, person_wikitext
from bridge.core.render.quotes import split_blocks, split_plain
from bridge.core.render.templates import FIELD_TEMPLATE
from bridge.core.render.titles import NO_SUBJECT
from bridge.core.subjects import heading_subject
from bridge.errors import MessageError

# Written on every plain-text body and quote, so as short as CSS allows.
_PLAIN_STYLE = "white-space:pre-wrap;font:inherit;border:0;background:none;padding:0"


@dataclass(frozen=True, slots=True)
class FileRef:
    """Where an attachment went: the wiki file title (`File:…`), or why it was not uploaded."""

    title: str | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """Per-mapping presentation choices."""

    mailbox: str
    language: str = "en"
    show_addresses: AddressDisplay = "full"
    # Colleagues' wiki accounts: their names in From, To and Cc link to their user pages.
    people: PeopleLinks = field(default_factory=PeopleLinks)


def message_anchor(message_id: str) -> str:
    """Return the stable HTML id of a message's block (`#msg-…` links to it).

    Made from the canonical id (lower-case domain), as before markers kept the id as written:
    links to a message stay valid whichever way its marker spells the id.
    """
    return "msg-" + hashlib.sha256(message_id.encode()).hexdigest()[:16]


def message_marker(message_id: str) -> str:
    """Return the exact attribute text that marks a message's block in the page's wikitext."""
    return f'data-message-id="{escape_attribute(message_id)}"'


def marked_id(message: Message) -> str:
    """The id a message's marker shows: as the mail wrote it, so a search for it finds the block.

    The canonical id where the written one is not just another spelling of it (a variant of a
    reused id, an id unfit for a header, a synthesized one); readers normalize what they read.
    """
    written = message.original_id
    return written if written and normalize_id(written) == message.message_id else message.message_id


def render_message(
    message: Message, options: RenderOptions, files: Mapping[str, FileRef] | None = None, note: str = ""
) -> str:
    """Return the wikitext section of one message; `note` is wikitext the bridge wrote, shown first."""
    return _MessageRenderer(options, files or {}).section(message, note)


def render_variant_note(original_id: str, page_title: str | None, language: str = "en") -> str:
    """Return the note of a mail that reuses `original_id` for other content.

    It links to the earlier message's block (on `page_title`, a title the bridge chose) when known.
    """
    earlier = label(language, "earlier_message")
    link = f"[[:{page_title}#{message_anchor(original_id)}|{earlier}]]" if page_title else earlier
    text = label(language, "variant", link=link, message_id=escape_inline(single_line(original_id)))
    return f"<div class=\"ewb-variant-note\">''{text}''</div>"


def join_sections(sections: Sequence[str]) -> str:
    """Return rendered message sections as the text of an append (or the body of a new page)."""
    return "\n\n".join(sections) + "\n"


def render_new_page(
    sections: Sequence[str],
    options: RenderOptions,
    categories: Sequence[str],
    previous: str | None = None,
    opening: str = "",
) -> str:
    """Return the full wikitext of a new thread page holding the rendered message `sections`.

    A continuation page names the `previous` part of its thread (a title the bridge chose) first;
    `opening` is a note of the bridge's (the participants) shown after the introduction.
    """
    intro = f"''{label(options.language, 'intro', mailbox=escape_inline(single_line(options.mailbox)))}''"
    if previous is not None:
        link = label(options.language, "continued_from", link=f"[[{previous}]]")
        intro = f"<div class=\"ewb-continued-from\">\n''{link}''\n</div>\n{intro}"
    category_lines = [f"[[Category:{escape_inline(single_line(name))}]]" for name in categories]
    return "\n".join([intro, *([opening] if opening else []), *category_lines, "", join_sections(sections)])


def continuation_marker(next_title: str) -> str:
    """Return the exact attribute text that marks the link from a full page to its next part."""
    return f'data-continued-on="{escape_attribute(next_title)}"'


def render_continuation_link(next_title: str, language: str = "en") -> str:
    """Return the note appended to a thread page whose thread goes on on its next part `next_title`.

    `next_title` is a title the bridge created (see `titles.page_title`), never mail text.
    """
    text = label(language, "continued_on", link=f"[[{next_title}]]")
    return f"\n\n<div class=\"ewb-continued-on\" {continuation_marker(next_title)}>\n''{text}''\n</div>\n"


def render_shortened_note(full_text: FileRef, language: str = "en") -> str:
    """Return the note of a mail shortened to fit a page: a link to its full text, or why there is none."""
    if full_text.title is None:
        reason = escape_inline(single_line(full_text.reason))
        text = label(language, "shortened_not_uploaded", reason=reason)
    else:
        text = label(language, "shortened", link=f"[[Media:{full_text.title.split(':', 1)[1]}]]")
    return f"<div class=\"ewb-shortened\">''{text}''</div>"


def merge_marker(into_title: str) -> str:
    """Return the exact attribute text that marks the note pointing a page to `into_title`."""
    return f'data-merged-into="{escape_attribute(into_title)}"'


def render_merge_note(into_title: str, language: str = "en") -> str:
    """Return the note appended to a thread page whose conversation continues on `into_title`.

    `into_title` is a title the bridge created (see `titles.page_title`), never mail text.
    """
    text = label(language, "continues", link=f"[[{into_title}]]")
    return f"\n\n<div class=\"ewb-merge-note\" {merge_marker(into_title)}>\n''{text}''\n</div>\n"


class _MessageRenderer:
    def __init__(self, options: RenderOptions, files: Mapping[str, FileRef]) -> None:
        self.options = options
        self.files = files
        self.language = options.language

    def section(self, message: Message, note: str = "") -> str:
        subject = heading_subject(message.subject) or NO_SUBJECT
        return "\n".join(
            [
                f"== {escape_inline(subject)} ==",
                f'<div class="ewb-message" id="{message_anchor(message.message_id)}" '
                f"{message_marker(marked_id(message))}>",
                *([note] if note else []),
                self.content(message),
                "</div>",
            ]
        )

    def content(self, message: Message) -> str:
        """Header fields, body, folded quotes, invitations, attachments and forwarded mails."""
        parts = [self.header(message)]
        images = {
            att.content_id: ref.title
            for att in message.attachments
            if att.content_id and (ref := self.files.get(att.sha256)) and ref.title
        }
        body, folded, used_images = self.body(message, images)
        parts.append(body)
        if folded:
            parts.append(
                '<div class="mw-collapsible mw-collapsed ewb-quoted">\n'
                f"''{label(self.language, 'quoted')}''\n"
                f"{folded}\n</div>"
            )
        parts.extend(self.event(event) for event in message.events)
        listed = [att for att in message.attachments if att.content_id not in used_images]
        signatures = dict.fromkeys(
            SIGNATURE_KINDS[att.content_type] for att in listed if att.content_type in SIGNATURE_KINDS
        )
        parts.extend(
            f"<div class=\"ewb-signed\">''{label(self.language, kind)}''</div>" for kind in signatures
        )
        listed = [att for att in listed if att.content_type not in SIGNATURE_KINDS]
        if listed:
            parts.append(self.attachments(listed))
        for forwarded in message.forwarded:
            subject = self.field(
                label(self.language, "subject"), single_line(forwarded.subject) or NO_SUBJECT
            )
            parts.append(
                f"<div class=\"ewb-forwarded\">\n'''{label(self.language, 'forwarded')}'''\n"
                f"{subject}\n{self.content(forwarded)}\n</div>"
            )
        return "\n".join(parts)

    def field(self, name: str, value: str, *, escaped: bool = False) -> str:
        text = value if escaped else escape_argument(single_line(value))
        return f"{{{{{FIELD_TEMPLATE}|{escape_argument(name)}|{text}}}}}"

    def header(self, message: Message) -> str:
        lines = [
            self.field(
                label(self.language, "from"),
                self.person(message.sender_name, message.sender_address),
                escaped=True,
            )
        ]
        for key, people in (("to", message.to), ("cc", message.cc)):
            if people:
                text = ", ".join(self.person(*p) for p in people)
                lines.append(self.field(label(self.language, key), text, escaped=True))
        lines.append(self.field(label(self.language, "date"), format_date(message.date, self.language)))
        return "\n".join(lines)

    def person(self, name: str, address: str) -> str:
        """The person as wikitext: escaped, linked to their wiki account where they have one."""
        return person_wikitext(name, address, self.options.show_addresses, self.language, self.options.people)

    def body(self, message: Message, images: Mapping[str, str]) -> tuple[str, str, set[str]]:
        """Render the body block (class `ewb-body`) and the folded quote's content block (class
        `mw-collapsible-content`): HTML through pandoc when it converts, plain text otherwise,
        where each is one `<pre>` that carries the class itself."""
        if message.body_html.strip():
            try:
                blocks = html_to_blocks(message.body_html)
            except MessageError:
                blocks = []
            writer = WikitextWriter(images, self.language)
            new, quoted = split_blocks(blocks)
            visible = writer.blocks(new)
            # An HTML part with no text and no inline image (a lone <br>) loses to the text part.
            if visible.strip() and (html_to_text(message.body_html).strip() or writer.used_images):
                folded = writer.blocks(quoted)
                if folded:
                    folded = f'<div class="mw-collapsible-content">\n{folded}\n</div>'
                return _body_block(visible), folded, writer.used_images
        new_text, quoted_text = split_plain(message.body_text)
        if not new_text.strip():
            return _body_block(f"''{label(self.language, 'empty')}''"), "", set()
        folded = _plain(quoted_text, "ewb-text mw-collapsible-content") if quoted_text else ""
        return _plain(new_text, "ewb-body ewb-text"), folded, set()

    def event(self, event: CalendarEvent) -> str:
        when = " – ".join(part for part in (event.start, event.end) if part)
        details = ", ".join(part for part in (when, event.location) if part)
        text = escape_inline(single_line(f"{event.summary} ({details})" if details else event.summary))
        return f"<div class=\"ewb-invitation\">'''{label(self.language, 'invitation')}:''' {text}</div>"

    def attachments(self, attachments: Sequence[Attachment]) -> str:
        lines = [f"<div class=\"ewb-attachments\">\n'''{label(self.language, 'attachments')}:'''"]
        gallery: list[str] = []
        for attachment in attachments:
            name = escape_inline(single_line(attachment.filename))
            size = format_size(attachment.size, self.language)
            ref = self.files.get(attachment.sha256)
            if ref is None or ref.title is None:
                reason = escape_inline(single_line(ref.reason if ref else ""))
                lines.append(f"* ''{name}'' ({size}) – {label(self.language, 'not_uploaded')}: {reason}")
            elif attachment.content_type.startswith("image/"):
                gallery.append(f"{ref.title}|{name} ({size})")
            else:
                lines.append(f"* [[Media:{ref.title.split(':', 1)[1]}|{name}]] ({size})")
        if gallery:
            lines.append('<gallery mode="packed" heights="120">\n' + "\n".join(gallery) + "\n</gallery>")
        lines.append("</div>")
        return "\n".join(lines)


def _body_block(wikitext: str) -> str:
    return f'<div class="ewb-body">\n{wikitext}\n</div>'


def _plain(text: str, classes: str = "ewb-text") -> str:
    # <pre> keeps the mail's line breaks without wikitext's paragraph rules; the style makes it
    # read like text rather than code.
    return f'<pre class="{classes}" style="{_PLAIN_STYLE}">{escape_pre(text)}</pre>'
