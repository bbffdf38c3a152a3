"""Recipient routes and redaction of a [[mailboxes]] entry: `[[mailboxes.routes]]` and the `redact*` keys.

A route sends the mail of some recipients of a shared mailbox to its own space: it names its
`recipients` and `page_prefix` and may override the look (`categories`, `language`,
`show_addresses`), the sender policy (`allowed_senders`), link replies (`reply`), who is inside
(`internal_domains`, `external_reply`) and redaction.
`MailboxSettings.for_route` gives the settings a route's mail is published with.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import field_validator

from bridge.core.redact import Redaction, RedactKind
from bridge.core.render.labels import Language
from bridge.core.render.people import AddressDisplay
from bridge.core.routing import RouteRule, canonical_address
from bridge.service.config.organisation import domain_patterns
from bridge.service.config.rules import (
    ConfigModel,
    LoadContext,
    category_list,
    choice,
    patterns,
    problem,
    rule,
    string,
    string_list,
    title_path,
)

ReplyMode = Literal["first", "every", "never"]
ExternalReply = Literal["none", "acknowledge"]
ExternalReplySetting = Annotated[ExternalReply, rule(choice("none", "acknowledge"), "none or acknowledge")]
# None: not set here (the mapping's, or the [organisation] domains, apply).
InternalDomains = Annotated[
    tuple[str, ...] | None,
    rule(domain_patterns, "a list of mail domains such as 'firma.de' or '*.firma.de'"),
]
Unrouted = Literal["quarantine", "default"]
PagePrefix = Annotated[
    str,
    rule(
        title_path,
        "a legal page title such as 'Sales/Mail' (no #<>[]|{}, no leading or "
        "trailing '/', no '..' parts, at most 150 bytes)",
    ),
]
Categories = Annotated[tuple[str, ...], rule(category_list, "a list of category names")]
LanguageSetting = Annotated[Language, rule(choice("en", "de"), "en or de")]
AddressSetting = Annotated[AddressDisplay, rule(choice("full", "name", "none"), "full, name or none")]
SenderPatterns = Annotated[tuple[str, ...], rule(patterns, "a list of addresses or '*@domain' patterns")]
_KINDS = ", ".join(kind.value for kind in RedactKind)
_MIME_OR_EXTENSION = re.compile(r"^(?:[a-z0-9][a-z0-9.+-]*/(?:\*|[a-z0-9][a-z0-9.+-]*)|\.?[a-z0-9]{1,10})$")
_MAX_PATTERN = 500


def _kinds(value: Any) -> tuple[RedactKind, ...] | None:
    items = string_list(value)
    if items is None:
        return None
    unknown = [item for item in items if item not in RedactKind.__members__.values()]
    if unknown:
        raise problem(f"{unknown[0]!r} is not a kind of data the bridge redacts ({_KINDS})")
    return tuple(RedactKind(item) for item in items)


def _regexes(value: Any) -> tuple[str, ...] | None:
    items = string_list(value)
    for item in items or ():
        if len(item) > _MAX_PATTERN:
            raise problem(f"{item[:40]!r}… is longer than {_MAX_PATTERN} characters")
        try:
            compiled = re.compile(item)
        except re.error as exc:
            raise problem(f"{item!r} is not a regular expression: {exc}") from None
        if compiled.fullmatch(""):
            raise problem(f"{item!r} matches empty text (it would put a marker between all characters)")
    return items


def _types(value: Any) -> tuple[str, ...] | None:
    items = string_list(value)
    for item in items or ():
        if not _MIME_OR_EXTENSION.match(item.lower()):
            raise problem(f"{item!r} is neither a MIME type ('application/pdf', 'image/*') nor an extension")
    return items


def _recipients(value: Any) -> tuple[str, ...] | None:
    items = string_list(value)
    if not items:
        return None
    for item in items:
        address = "x@" + item[2:] if item.startswith("*@") else item
        if "*" in address or not canonical_address(address):
            raise problem(f"{item!r} is neither an address nor a '*@domain' pattern")
    return items


class MailboxRedaction(ConfigModel):
    """What is removed from mail before it is published: kinds of data, own patterns, attachment types."""

    redact: Annotated[tuple[RedactKind, ...], rule(_kinds, f"a list of {_KINDS}")] = ()
    redact_patterns: Annotated[tuple[str, ...], rule(_regexes, "a list of regular expressions")] = ()
    redact_attachment_types: Annotated[
        tuple[str, ...], rule(_types, "a list of MIME types ('application/pdf', 'image/*') or extensions")
    ] = ()

    def rules(self, language: str) -> Redaction:
        """The core's redaction of these settings, its markers in `language`."""
        return Redaction(frozenset(self.redact), self.redact_patterns, self.redact_attachment_types, language)


class MailboxRoute(ConfigModel):
    """One `[[mailboxes.routes]]` table: whose mail goes where, and what it changes of its mailbox."""

    parts = ("redaction",)

    name: str = ""
    recipients: Annotated[
        tuple[str, ...], rule(_recipients, "a non-empty list of addresses or '*@domain' patterns")
    ]
    page_prefix: PagePrefix
    categories: Categories = ()
    language: LanguageSetting = "en"
    show_addresses: AddressSetting = "full"
    allowed_senders: SenderPatterns = ()
    reply: Annotated[ReplyMode, rule(choice("first", "every", "never"), "first, every or never")] = "never"
    external_reply: ExternalReplySetting = "none"
    internal_domains: InternalDomains = None
    redaction: MailboxRedaction = MailboxRedaction()

    @classmethod
    def prepare(cls, data: dict[str, Any], context: LoadContext | None) -> None:
        """A route without a name is named after its page prefix."""
        if "name" not in data and isinstance(data.get("page_prefix"), str):
            data["name"] = data["page_prefix"].strip()

    @field_validator("name", mode="plain")
    @classmethod
    def _name(cls, value: Any) -> str:
        text = string(value)
        if text is None:
            raise problem("must be a non-empty name")
        return text

    def overrides(self, part: ConfigModel, keys: tuple[str, ...]) -> dict[str, Any]:
        """Those of `keys` this route's file table sets, with their values (for `part`'s copy)."""
        return {
            key: getattr(self, key)
            for key in keys
            if key in self.model_fields_set and key in type(part).model_fields
        }

    @property
    def matcher(self) -> RouteRule:
        """What matching mail to routes needs of this route."""
        return RouteRule(self.name, self.recipients, self.page_prefix)
