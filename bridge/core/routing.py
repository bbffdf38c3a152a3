"""Recipient routing (pure): which route of a shared mailbox a mail belongs to, and a page's route.

One IMAP mailbox often receives the mail of several aliases and plus addresses
(`vertrieb-wiki@firma.de`, `wiki+einkauf@firma.de`). A route names recipients (addresses, or
`*@domain`); the recipient headers are read in the order of trust — Delivered-To and
X-Original-To (written by the receiving server), then To and Cc (written by the sender) — and
per header the first route that matches one of its addresses wins. Plus tags are part of the
address: `wiki+einkauf@…` matches only a route naming it (or its domain).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bridge.core.model import Message

# Header names in the order of trust, as the log and the quarantine reason name them.
TRUST_ORDER = ("Delivered-To", "X-Original-To", "To", "Cc")
_MAX_LISTED = 3
_MAX_ADDRESS = 254  # RFC 5321 path limit: anything longer is no address a route can name


@dataclass(frozen=True, slots=True)
class RouteRule:
    """What matching needs of one route: its name, its recipients and its page prefix."""

    name: str
    recipients: tuple[str, ...]
    page_prefix: str

    @property
    def addresses(self) -> frozenset[str]:
        """The exact addresses the route names, canonical."""
        return frozenset(a for a in map(canonical_address, self.recipients) if a and not a.startswith("*@"))

    @property
    def domains(self) -> frozenset[str]:
        """The domains of its `*@domain` patterns, canonical."""
        return frozenset(a[2:] for a in map(canonical_address, self.recipients) if a.startswith("*@"))


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """The route a mail's recipients chose: which route, by which address in which header."""

    route: str
    address: str
    header: str


def canonical_address(text: str) -> str:
    """An address as routes compare it: trimmed, no angle brackets, lower case, no trailing dot.

    Empty for anything that is not one `local@domain` (no address, two `@`, white space inside).
    """
    address = text.strip().strip("<>").strip().lower().rstrip(".")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or "@" in local or len(address) > _MAX_ADDRESS:
        return ""
    if any(c.isspace() for c in address):
        return ""
    return address


def recipients(message: Message) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The recipient addresses of each header, in the order of trust (canonical, empty ones left out)."""
    values = (
        message.delivered_to,
        message.original_to,
        tuple(address for _, address in message.to),
        tuple(address for _, address in message.cc),
    )
    return tuple(
        (header, tuple(a for a in map(canonical_address, found) if a))
        for header, found in zip(TRUST_ORDER, values, strict=True)
    )


def match_route(message: Message, rules: Sequence[RouteRule]) -> RouteMatch | None:
    """The route of `message` by its recipients, or None when no route names any of them."""
    compiled = [(rule.name, rule.addresses, rule.domains) for rule in rules]
    for header, found in recipients(message):
        for name, exact, domains in compiled:
            for address in found:
                if address in exact or address.rpartition("@")[2] in domains:
                    return RouteMatch(name, address, header)
    return None


def unrouted_reason(message: Message) -> str:
    """The quarantine reason of a mail no route takes: "no route for" its first few recipients."""
    seen: dict[str, None] = {}
    for _, found in recipients(message):
        seen.update(dict.fromkeys(found))
    if not seen:
        return "no route for this mail: it names no recipient"
    listed = ", ".join(list(seen)[:_MAX_LISTED])
    more = f" and {len(seen) - _MAX_LISTED} more" if len(seen) > _MAX_LISTED else ""
    return f"no route for {listed}{more}"


def route_of_title(title: str, rules: Sequence[RouteRule]) -> str | None:
    """The route whose space holds the page `title` (None: the mapping's own space, or none).

    Thread pages are one segment under their prefix (`page_title`), and route prefixes are
    distinct, so the page's parent names its route: a reply follows its thread's page there.
    """
    parent = _wiki_form(title.rpartition("/")[0])
    return next((rule.name for rule in rules if _wiki_form(rule.page_prefix) == parent), None)


def _wiki_form(title: str) -> str:
    """A title as the wiki stores it: underscores as spaces, the first letter upper case."""
    text = title.replace("_", " ").strip()
    return text[:1].upper() + text[1:]
