"""Forgetting a person or a message on a thread page's wikitext (pure; GDPR Art. 17).

A page holds the bridge's message blocks (a heading, then a `<div>` carrying the message's
marker) between which people may have written text of their own. Forgetting rewrites only the
bridge's blocks: a block of the person (or the message) becomes a short dated note that keeps
the marker, so exactly-once and `state rebuild` still know the message was published and it is
never published again; in the other blocks the person's entries leave the From/To/Cc fields and
their address leaves the text. Human text outside the blocks is kept as it is.

The same rewrite tells which old revisions reveal the data: one that the rewrite would change.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from bridge.core.msgid import normalize_id
from bridge.core.render.escape import escape_inline
from bridge.core.render.page import message_marker
from bridge.core.render.people import forget_participants, shown_name
from bridge.errors import ForgetError

_MARKER = re.compile(r'\bdata-message-id="([^"]*)"')
_DIV = re.compile(r"<div\b|</div\s*>", re.IGNORECASE)
_HEADING = re.compile(r"^(=+)[^\n]*\1[ \t]*$")
# A header line: `{{Ewb field|label|value}}`, or on pages of earlier versions
# `{{Email-wiki-bridge field|label=…|value=…}}`; group 1 is everything before the value.
_FIELD = re.compile(r"\{\{((?:Email-wiki-bridge field\|label=|Ewb field\|)[^|}]*\|(?:value=)?)([^}]*)\}\}")
_ENTRY_ADDRESS = re.compile(r"<([^<>\s]+@[^<>\s]+)>\s*(?:\]\])?\s*$")  # `]]`: the end of an account link
_MEDIA_LINK = re.compile(r"\[\[\s*Media:([^|\]\n]+)", re.IGNORECASE)
_GALLERY = re.compile(r"<gallery\b[^>]*>(.*?)</gallery>", re.IGNORECASE | re.DOTALL)
FORGOTTEN_CLASS = "ewb-forgotten"
_SEPARATOR = ", "

_TEXTS = {
    "en": {
        "note": "Message removed at the person's request ({date}).",
        "heading": "Removed message",
        "person": "(removed)",
    },
    "de": {
        "note": "Nachricht auf Wunsch der Person entfernt ({date}).",
        "heading": "Entfernte Nachricht",
        "person": "(entfernt)",
    },
}


@dataclass(frozen=True, slots=True)
class ForgetRequest:
    """Whom or what to forget: mail addresses (any case) and Message-IDs (any spelling)."""

    addresses: frozenset[str] = frozenset()
    message_ids: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()  # display names the person's own blocks showed

    @staticmethod
    def of(addresses: Iterable[str] = (), message_ids: Iterable[str] = ()) -> ForgetRequest:
        """Build a request from addresses and ids as a person typed them."""
        ids = {normalize_id(raw) or raw.strip() for raw in message_ids}
        return ForgetRequest(frozenset(a.strip().lower() for a in addresses if a.strip()), frozenset(ids))

    def with_ids(self, message_ids: Iterable[str]) -> ForgetRequest:
        """The same request, also forgetting the messages of `message_ids` (canonical)."""
        return ForgetRequest(self.addresses, self.message_ids | frozenset(message_ids), self.names)

    def with_names(self, names: Iterable[str]) -> ForgetRequest:
        """The same request, also removing `names` from the header fields of other messages."""
        return ForgetRequest(self.addresses, self.message_ids, self.names | frozenset(names))


@dataclass(frozen=True, slots=True)
class MessageBlock:
    """One bridge message block: its span in the page text and its canonical Message-ID."""

    start: int
    end: int
    message_id: str
    opening: str  # the block's `<div …>` tag as written, marker included

    def text(self, page: str) -> str:
        """The block's wikitext."""
        return page[self.start : self.end]


@dataclass(frozen=True, slots=True)
class PageRewrite:
    """What forgetting did to one page's text."""

    text: str
    forgotten_ids: tuple[str, ...] = ()
    scrubbed_blocks: int = 0
    files: frozenset[str] = field(default_factory=frozenset)  # file names (no namespace) of forgotten blocks

    def changed(self, before: str) -> bool:
        """Tell whether the rewrite differs from `before`."""
        return self.text != before


def message_blocks(text: str) -> list[MessageBlock]:
    """Return the bridge's message blocks of a page, in page order.

    Raises `ForgetError` when a block's `<div>` is not closed before the next block.
    """
    markers = [match for match in _MARKER.finditer(text) if _is_bridge_marker(match)]
    blocks: list[MessageBlock] = []
    for index, match in enumerate(markers):
        tag_start = text.rfind("<div", 0, match.start())
        if tag_start < 0 or ">" in text[tag_start : match.start()]:
            continue
        tag_end = text.find(">", match.end())
        limit = markers[index + 1].start() if index + 1 < len(markers) else len(text)
        end = _closing_div(text, tag_end + 1, limit)
        if tag_end < 0 or end is None:
            raise ForgetError(
                f"the block of message {html.unescape(match.group(1))!r} is not closed on the page"
            )
        start = _heading_start(text, tag_start)
        message_id = html.unescape(match.group(1))
        blocks.append(
            MessageBlock(start, end, normalize_id(message_id) or message_id, text[tag_start : tag_end + 1])
        )
    return blocks


def names_of(text: str, addresses: frozenset[str]) -> set[str]:
    """Return the display names shown next to `addresses` in the page's header fields."""
    names: set[str] = set()
    for match in _FIELD.finditer(text):
        for entry in map(shown_name, html.unescape(match.group(2)).split(_SEPARATOR)):
            address = _ENTRY_ADDRESS.search(entry)
            if address and address.group(1).lower() in addresses:
                name = entry[: address.start()].strip()
                if name:
                    names.add(name)
    return names


def forget_on_page(text: str, request: ForgetRequest, language: str, today: str) -> PageRewrite:
    """Rewrite the bridge's blocks of a page so that nothing of the request's person or messages is left."""
    texts = _TEXTS.get(language, _TEXTS["en"])
    pieces: list[str] = []
    position = 0
    forgotten: list[str] = []
    files: set[str] = set()
    scrubbed = 0
    for block in message_blocks(text):
        pieces.append(text[position : block.start])
        original = block.text(text)
        if FORGOTTEN_CLASS in block.opening:
            pieces.append(original)
        elif _is_theirs(block, original, request):
            forgotten.append(block.message_id)
            files |= _file_names(original)
            pieces.append(_note_block(block, texts, today))
        else:
            cleaned = _scrub(original, request, texts["person"])
            scrubbed += cleaned != original
            pieces.append(cleaned)
        position = block.end
    pieces.append(text[position:])
    rewritten = forget_participants("".join(pieces), lambda name: _named(name, request))
    return PageRewrite(rewritten, tuple(forgotten), scrubbed, frozenset(files))


def _named(name: str, request: ForgetRequest) -> bool:
    """Whether the participants note's `name` is the request's person (by name, address or its local part)."""
    shown = name.strip()
    return shown in request.names or any(
        shown.lower() in (address, address.partition("@")[0]) for address in request.addresses
    )


def file_names(text: str) -> set[str]:
    """Return the names (no namespace) of the files that `text` links or shows in a gallery."""
    return _file_names(text)


def _is_bridge_marker(match: re.Match[str]) -> bool:
    # Only the bridge's own canonical escaping counts (see markers.py): a look-alike typed by a
    # person is not a block.
    value = html.unescape(match.group(1))
    return bool(value) and message_marker(value) == match.group(0)


def _closing_div(text: str, position: int, limit: int) -> int | None:
    depth = 1
    for match in _DIV.finditer(text, position, limit):
        depth += -1 if match.group(0).startswith("</") else 1
        if depth == 0:
            return match.end()
    return None


def _heading_start(text: str, tag_start: int) -> int:
    # The bridge writes its heading on the line just above the block's `<div>`.
    line_start = text.rfind("\n", 0, tag_start) + 1
    if text[line_start:tag_start].strip() or line_start == 0:
        return tag_start
    previous = text.rfind("\n", 0, line_start - 1) + 1
    return previous if _HEADING.match(text[previous : line_start - 1]) else tag_start


def _is_theirs(block: MessageBlock, original: str, request: ForgetRequest) -> bool:
    if block.message_id in request.message_ids:
        return True
    sender = _FIELD.search(original)
    if sender is None or not request.addresses:
        return False
    return any(_entry_matches(entry, request) for entry in html.unescape(sender.group(2)).split(_SEPARATOR))


def _entry_matches(entry: str, request: ForgetRequest) -> bool:
    entry = shown_name(entry)  # a colleague's entry may link to their wiki account
    address = _ENTRY_ADDRESS.search(entry)
    if address:
        return address.group(1).lower() in request.addresses
    return entry.strip().lower() in request.addresses or entry.strip() in request.names


def _note_block(block: MessageBlock, texts: dict[str, str], today: str) -> str:
    opening = block.opening.replace('class="', f'class="{FORGOTTEN_CLASS} ', 1)
    if FORGOTTEN_CLASS not in opening:
        opening = opening.replace("<div", f'<div class="{FORGOTTEN_CLASS}"', 1)
    note = escape_inline(texts["note"].format(date=today))
    return f"== {escape_inline(texts['heading'])} ==\n{opening}\n''{note}''\n</div>"


def _scrub(block: str, request: ForgetRequest, removed: str) -> str:
    if not request.addresses and not request.names:
        return block

    def field_line(match: re.Match[str]) -> str:
        entries = match.group(2).split(_SEPARATOR)
        kept = [entry for entry in entries if not _entry_matches(html.unescape(entry), request)]
        if len(kept) == len(entries):
            return match.group(0)
        value = _SEPARATOR.join(kept) if kept else escape_inline(removed)
        return f"{{{{{match.group(1)}{value}}}}}"

    # The opening tag keeps its marker whole, even where a Message-ID contains the address.
    tag_end = block.find(">", block.find("data-message-id=")) + 1
    head, rest = block[:tag_end], _FIELD.sub(field_line, block[tag_end:])
    for address in request.addresses:
        rest = re.sub(re.escape(address), escape_inline(removed), rest, flags=re.IGNORECASE)
    return head + rest


def _file_names(text: str) -> set[str]:
    names = {match.group(1).strip() for match in _MEDIA_LINK.finditer(text)}
    for gallery in _GALLERY.finditer(text):
        for line in gallery.group(1).splitlines():
            title = line.split("|", 1)[0].strip()
            if title:
                names.add(title.split(":", 1)[1].strip() if ":" in title else title)
    return names
