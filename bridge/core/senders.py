"""Who may publish (pure): allowed sender patterns and trusted authentication results.

The From header is trivially forged. With `require_authenticated`, the bridge trusts it only
when an `Authentication-Results` header written by the receiving server itself (its configured
`authserv-id`) reports DMARC pass, or DKIM pass for a domain aligned with the From domain.
Headers from any other authserv-id are ignored: anyone can put such a header into a mail.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bridge.core.model import Message

RefusalCode = Literal["no_address", "not_allowed", "not_authenticated", "no_route"]
_RESULT = re.compile(r"\b(dmarc|dkim)\s*=\s*(\w+)((?:\s+[\w.-]+\s*=\s*[^\s;]+)*)", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")
_PROPERTY = re.compile(r"([\w.-]+)\s*=\s*([^\s;]+)")


def sender_allowed(address: str, patterns: Sequence[str]) -> bool:
    """Tell whether `address` matches one of `patterns` (`name@domain`, `*@domain`); none = all."""
    if not patterns:
        return True
    address = address.strip().lower()
    return any(fnmatch.fnmatchcase(address, pattern.strip().lower()) for pattern in patterns)


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().lower().rstrip(".")


def _aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment: the same domain, or one a parent of the other."""
    return bool(domain) and (
        domain == from_domain or from_domain.endswith("." + domain) or domain.endswith("." + from_domain)
    )


def authenticated(message: Message, trusted_authserv_ids: Sequence[str]) -> bool:
    """Tell whether a trusted Authentication-Results header vouches for the From address."""
    from_domain = _domain(message.sender_address)
    trusted = {server.strip().lower() for server in trusted_authserv_ids}
    for header in message.automation.authentication_results:
        authserv_id = header.split(";", 1)[0].strip().split()[0].lower() if header.strip() else ""
        if authserv_id not in trusted:
            continue
        for method, outcome, properties in _RESULT.findall(_COMMENT.sub(" ", header)):
            if outcome.lower() != "pass":
                continue
            values = {key.lower(): value.strip('"').lower() for key, value in _PROPERTY.findall(properties)}
            if method.lower() == "dmarc":
                if _domain(values.get("header.from", "@" + from_domain)) == from_domain:
                    return True
            elif _aligned(values.get("header.d", _domain(values.get("header.i", ""))), from_domain):
                return True
    return False


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the sender policy or routing keeps a mail off the wiki: a rule (`code`), a sentence."""

    code: RefusalCode
    detail: str

    def __str__(self) -> str:
        return self.detail


def policy_refusal(
    message: Message, allowed: Sequence[str], require_authenticated: bool, trusted_authserv_ids: Sequence[str]
) -> Refusal | None:
    """Return why `message` may not be published under the mapping's sender policy, or None."""
    if not message.sender_address:
        return Refusal("no_address", "the mail has no sender address")
    if not sender_allowed(message.sender_address, allowed):
        return Refusal("not_allowed", f"the sender {message.sender_address} is not in allowed_senders")
    if require_authenticated and not authenticated(message, trusted_authserv_ids):
        return Refusal(
            "not_authenticated",
            f"the sender {message.sender_address} is not authenticated (no DMARC or aligned DKIM pass "
            "from a trusted Authentication-Results header)",
        )
    return None
