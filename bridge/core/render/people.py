"""People on the page (pure): names as text or linked to wiki accounts, and the participants note.

Names and addresses come from mail and are always escaped; only an account name the wiki
confirmed (or the admin's file named, and the wiki confirmed) and the user namespace's name from
the wiki's siteinfo form a link, `[[Benutzer:A.schmidt|Anna Schmidt]]`. The participants note at
the top of a thread page lists the colleagues (linked) and counts the people from outside; its
marker carries a digest of its text, so the bridge replaces the note only while nobody edited it.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from bridge.core.people import Person
from bridge.core.render.escape import escape_argument, single_line
from bridge.core.render.labels import label

AddressDisplay = Literal["full", "name", "none"]
# The note lists at most this many colleagues (and says how many more): it stays small on the page.
MAX_LISTED = 12
_NOTE = re.compile(
    r'<div class="ewb-participants" data-participants="([0-9a-f]{16})">\n(.*?)\n</div>', re.DOTALL
)
# Each listed colleague is one span, so `forget` finds them whatever their names hold (names are
# escaped: none can close a span).
_PERSON = re.compile(r'<span class="ewb-person">(.*?)</span>')
_LINK = re.compile(r"^\[\[[^|\]]*\|(.*)\]\]$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class PeopleLinks:
    """Which addresses link to which wiki accounts, and the user namespace's local name."""

    namespace: str = "User"
    accounts: Mapping[str, str] = field(default_factory=dict)

    def link(self, address: str, text: str) -> str:
        """`text` (already wikitext) as a link to the account of `address`, or as it is without one."""
        account = self.accounts.get(address.strip().lower())
        return f"[[{self.namespace}:{account}|{text}]]" if account else text


def person_text(name: str, address: str, display: AddressDisplay, language: str) -> str:
    """How a person is shown (plain text, not yet escaped): `show_addresses` decides."""
    name, address = single_line(name), single_line(address)
    if display == "full":
        return (
            f"{name} <{address}>"
            if name and address
            else name or address or label(language, "unknown_sender")
        )
    if display == "name":
        return name or address.split("@", 1)[0] or label(language, "unknown_sender")
    return name or label(language, "hidden")


def person_wikitext(
    name: str, address: str, display: AddressDisplay, language: str, links: PeopleLinks
) -> str:
    """A person as wikitext: the escaped text, linked to their account where they have one.

    Escaped for a template's positional argument (`=` too), as the header fields are.
    """
    return links.link(address, escape_argument(person_text(name, address, display, language)))


def _note_body(people: Sequence[Person], display: AddressDisplay, language: str, links: PeopleLinks) -> str:
    inside = [person for person in people if person.inside]
    outside = len(people) - len(inside)
    shown: AddressDisplay = "none" if display == "none" else "name"
    names = [
        f'<span class="ewb-person">{person_wikitext(p.name, p.address, shown, language, links)}</span>'
        for p in inside[:MAX_LISTED]
    ]
    if len(inside) > MAX_LISTED:
        names.append(label(language, "participants_more", count=str(len(inside) - MAX_LISTED)))
    text = label(language, "participants", people=", ".join(names) or "–")
    if outside:
        text += " · " + label(language, "participants_outside", count=str(outside))
    return f"''{text}''"


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def render_participants(
    people: Sequence[Person], display: AddressDisplay, language: str, links: PeopleLinks
) -> str:
    """The participants note: colleagues listed (linked), people from outside counted."""
    body = _note_body(people, display, language, links)
    return f'<div class="ewb-participants" data-participants="{_digest(body)}">\n{body}\n</div>'


def replace_participants(page_text: str, note: str) -> str | None:
    """The page with its participants note replaced by `note`; None when there is nothing to do.

    Nothing to do: the page has no note (people removed it), its note was edited by a person (its
    text no longer matches its digest; their words stay), or it already reads like `note`.
    """
    found = _NOTE.search(page_text)
    if found is None or _digest(found.group(2)) != found.group(1) or found.group(0) == note:
        return None
    return page_text[: found.start()] + note + page_text[found.end() :]


def shown_name(entry: str) -> str:
    """What a reader sees of a person's entry (in a field or the note): the text of its account link."""
    found = _LINK.match(entry.strip())
    return found.group(1) if found else entry


def forget_participants(page_text: str, forgotten: Callable[[str], bool]) -> str:
    """The page with the colleagues `forgotten` (by their shown name, unescaped) left out of its note.

    A note people edited loses them too; an untouched note gets the digest of its new text, so
    the bridge goes on keeping it up to date.
    """
    found = _NOTE.search(page_text)
    spans = list(_PERSON.finditer(found.group(2))) if found else []
    kept = [span.group(0) for span in spans if not forgotten(html.unescape(shown_name(span.group(1))))]
    if found is None or len(kept) == len(spans):
        return page_text
    body = found.group(2)
    body = body[: spans[0].start()] + (", ".join(kept) or "–") + body[spans[-1].end() :]
    digest = _digest(body) if _digest(found.group(2)) == found.group(1) else found.group(1)
    note = f'<div class="ewb-participants" data-participants="{digest}">\n{body}\n</div>'
    return page_text[: found.start()] + note + page_text[found.end() :]
