"""Sender policy: allowed senders and trusted Authentication-Results (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bridge.core.model import AutomationHeaders, Message
from bridge.core.senders import authenticated, policy_refusal, sender_allowed

TRUSTED = ("mx.example.de",)


def _message(sender: str, *results: str) -> Message:
    return Message(
        message_id="m@example.de",
        references=(),
        subject="Hallo Team",
        sender_name="",
        sender_address=sender,
        date=datetime(2026, 11, 27, tzinfo=UTC),
        body_text="x",
        automation=replace(AutomationHeaders(), authentication_results=results),
    )


def test_patterns_match_addresses_and_domains() -> None:
    """`*@domain` matches that domain only; plain addresses match exactly, case-insensitively."""
    patterns = ("*@example.de", "Boss@Partner.com")
    assert sender_allowed("anna@example.de", patterns)
    assert sender_allowed("boss@partner.com", patterns)
    assert not sender_allowed("anna@example.de.evil.com", patterns)
    assert not sender_allowed("anna@sub.example.de", patterns)
    assert sender_allowed("anyone@anywhere.org", ())


def test_dmarc_pass_from_trusted_server() -> None:
    """DMARC pass for the From domain from the configured authserv-id authenticates the sender."""
    message = _message(
        "anna@example.de",
        "mx.example.de; spf=pass smtp.mailfrom=example.de; "
        "dkim=pass header.d=example.de; dmarc=pass (p=reject dis=none) header.from=example.de",
    )
    assert authenticated(message, TRUSTED)


def test_aligned_dkim_pass_is_enough() -> None:
    """DKIM pass for the From domain or a parent domain counts (relaxed alignment)."""
    assert authenticated(
        _message("anna@mail.example.de", "mx.example.de; dkim=pass header.d=example.de"), TRUSTED
    )


def test_unaligned_dkim_is_not_enough() -> None:
    """DKIM pass for another domain (a mailing service) does not vouch for the From address."""
    message = _message(
        "anna@example.de", "mx.example.de; dkim=pass header.d=mailservice.example.com; dmarc=fail"
    )
    assert not authenticated(message, TRUSTED)


def test_forged_header_from_another_server_is_ignored() -> None:
    """An Authentication-Results header of another authserv-id (the sender's own) counts for nothing."""
    message = _message("ceo@example.de", "evil.example.com; dmarc=pass header.from=example.de")
    assert not authenticated(message, TRUSTED)
    assert "not authenticated" in str(policy_refusal(message, (), True, TRUSTED))


def test_dmarc_for_another_from_domain_does_not_count() -> None:
    """A DMARC pass about a different header.from does not authenticate this From."""
    assert not authenticated(
        _message("anna@example.de", "mx.example.de; dmarc=pass header.from=other.de"), TRUSTED
    )


def test_policy_refusal_reasons() -> None:
    """Refusals name the rule: no address, not allowed, not authenticated."""
    assert "no sender address" in str(policy_refusal(_message(""), (), False, ()))
    refused = policy_refusal(_message("x@evil.com"), ("*@example.de",), False, ())
    assert refused is not None and refused.code == "not_allowed" and "allowed_senders" in refused.detail
    assert policy_refusal(_message("x@example.de"), ("*@example.de",), False, ()) is None
