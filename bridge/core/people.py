"""Inside and outside the company (pure): who is a colleague, and which wiki account may be theirs.

A colleague is an address in the organisation's mail domains; a sender counts as one only when
the From header is trusted (with `require_authenticated`, a trusted Authentication-Results header
must vouch for it, as for publishing). The wiki account of a colleague comes from the admin's
file or from a rule over the address; either is only a candidate until the wiki confirms that
the account exists. Mail is hostile: a candidate with characters no user name may hold is dropped
before it reaches the wiki's API or a page.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bridge.core.model import Message
from bridge.core.senders import authenticated

# The fields a `wiki_user_from_address` rule may use, for `a.schmidt@firma.de`: `a.schmidt`,
# `A.schmidt` (first letter upper case), `A Schmidt` (words capitalised) and `firma.de`.
RULE_FIELDS = ("local", "local_title", "local_words", "domain")
# What MediaWiki forbids in user names (title-illegal characters, `/`, `@`, `:` and controls),
# plus `=` and quotes, which no account needs and which would only help an injection.
_NAME_ILLEGAL = re.compile(r"[#<>\[\]|{}/@:=\"'%&\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\ufeff]")
MAX_ACCOUNT_NAME = 85
# The reason recorded for a link or refusal reply not sent to someone outside the company.
EXTERNAL_SENDER = "external sender"


def domain_of(address: str) -> str:
    """The lower-case domain of a mail address ("" without one)."""
    return address.rpartition("@")[2].strip().lower().rstrip(".") if "@" in address else ""


def valid_account_name(name: str) -> bool:
    """Tell whether `name` can be a wiki user name the bridge may ask about and link to."""
    stripped = name.strip()
    return (
        bool(stripped)
        and stripped == name
        and len(name) <= MAX_ACCOUNT_NAME
        and not _NAME_ILLEGAL.search(name)
        and "  " not in name
        and "__" not in name
    )


def wiki_user_name(name: str) -> str:
    """A user name as the wiki writes it: blanks for underscores, the first letter upper case."""
    name = name.replace("_", " ")
    return name[:1].upper() + name[1:]


def rule_account(address: str, rule: str) -> str | None:
    """The account name `rule` makes of `address`, or None when the result cannot be a user name."""
    if not rule or "@" not in address:
        return None
    local, _, domain = address.strip().rpartition("@")
    words = " ".join(word[:1].upper() + word[1:] for word in re.split(r"[._-]+", local) if word)
    values = {
        "local": local,
        "local_title": local[:1].upper() + local[1:],
        "local_words": words,
        "domain": domain.lower(),
    }
    name = re.sub(r"\{(\w+)\}", lambda match: values[match.group(1)], rule)
    return name if valid_account_name(name) else None


@dataclass(frozen=True, slots=True)
class Insiders:
    """Who counts as inside: the organisation's domains, and whether From needs authentication."""

    domains: tuple[str, ...] = ()
    require_authenticated: bool = False
    trusted_authserv_ids: tuple[str, ...] = ()

    def address_inside(self, address: str) -> bool:
        """Tell whether `address` is in one of the domains (`firma.de`, or `*.firma.de` for subdomains)."""
        domain = domain_of(address)
        return bool(domain) and any(fnmatch.fnmatchcase(domain, pattern) for pattern in self.domains)

    def sender_inside(self, message: Message) -> bool:
        """Tell whether the mail's sender is a colleague (the From header trusted as publishing trusts it)."""
        if not self.address_inside(message.sender_address):
            return False
        return not self.require_authenticated or authenticated(message, self.trusted_authserv_ids)


@dataclass(frozen=True, slots=True)
class AccountRules:
    """Where account names come from: the admin's file (address → user) first, then the rule."""

    rule: str = ""
    file: Mapping[str, str] | None = None

    def candidate(self, address: str) -> str | None:
        """The account name that may belong to `address`, still to be confirmed by the wiki."""
        address = address.strip().lower()
        listed = (self.file or {}).get(address)
        if listed is not None:
            return listed if valid_account_name(listed) else None
        return rule_account(address, self.rule)


@dataclass(frozen=True, slots=True)
class Person:
    """Someone in a mail's From, To or Cc: display name as written, address lower-cased."""

    name: str
    address: str
    inside: bool


def people_of(message: Message, insiders: Insiders, own_addresses: Iterable[str] = ()) -> list[Person]:
    """The sender and recipients of a mail, once each, without the bridge's and team addresses.

    The sender is inside only when trusted (`Insiders.sender_inside`); recipients by domain.
    """
    own = {address.lower() for address in own_addresses}
    found: dict[str, Person] = {}
    sender = message.sender_address.strip().lower()
    if sender and sender not in own:
        found[sender] = Person(message.sender_name, sender, insiders.sender_inside(message))
    for name, address in (*message.to, *message.cc):
        key = address.strip().lower()
        if key and "@" in key and key not in own and key not in found:
            found[key] = Person(name, key, insiders.address_inside(key))
    return list(found.values())


def people_of_all(
    messages: Sequence[Message], insiders: Insiders, own_addresses: Iterable[str] = ()
) -> list[Person]:
    """The people of several mails, once each, in order of first appearance."""
    found: dict[str, Person] = {}
    own = tuple(own_addresses)
    for message in messages:
        for person in people_of(message, insiders, own):
            found.setdefault(person.address, person)
    return list(found.values())
