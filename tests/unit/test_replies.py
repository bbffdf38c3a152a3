"""Link-reply policy and composition (pure)."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.model import AutomationHeaders, Message
from bridge.replies import (
    ReplyContext,
    ReplyRules,
    ReplyTexts,
    compose_refusal,
    compose_reply,
    refusal_reason,
    reply_message_id,
    suppression_reason,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
RULES = ReplyRules(
    own_addresses=frozenset({"wiki@example.de", "team-sales@example.de"}),
    max_age=timedelta(days=7),
    per_sender_per_hour=3,
)
CONTEXT = ReplyContext(
    from_address="wiki@example.de",
    reply_to="team-sales@example.de",
    mailbox="sales",
    page_url="https://wiki.example.de/index.php?title=Sales/Mail/Budget",
    message_url="https://wiki.example.de/index.php?title=Sales/Mail/Budget#msg-0123456789abcdef",
)


def _message(**changes: object) -> Message:
    message = Message(
        message_id="m1@example.de",
        references=("root@example.de",),
        subject="AW: Budget 2027",
        sender_name="Anna Schmidt",
        sender_address="anna@example.de",
        date=NOW - timedelta(hours=1),
        body_text="Passt.",
        automation=AutomationHeaders(return_path="anna@example.de"),
    )
    return replace(message, **changes)  # type: ignore[arg-type]


def _automation(**changes: object) -> AutomationHeaders:
    return replace(AutomationHeaders(return_path="anna@example.de"), **changes)  # type: ignore[arg-type]


def test_ordinary_mail_gets_a_reply() -> None:
    """A recent mail from a person, with a return path, is not suppressed."""
    assert suppression_reason(_message(), RULES, NOW, 0) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"automation": _automation(auto_submitted="auto-generated")}, "Auto-Submitted"),
        ({"automation": _automation(auto_submitted="auto-replied; owner=x")}, "Auto-Submitted"),
        ({"automation": _automation(precedence="bulk")}, "Precedence"),
        ({"automation": _automation(precedence="list")}, "Precedence"),
        ({"automation": _automation(precedence="junk")}, "Precedence"),
        ({"automation": _automation(list_id="<team.lists.example.de>")}, "mailing-list"),
        ({"automation": _automation(list_unsubscribe="<mailto:u@x>")}, "mailing-list"),
        ({"automation": _automation(return_path="")}, "return path"),
        ({"automation": _automation(return_path=None)}, "return path"),
        ({"sender_address": "MAILER-DAEMON@mx.example.de"}, "automatic sender"),
        ({"sender_address": "postmaster@example.de"}, "automatic sender"),
        ({"sender_address": "no-reply@shop.example.com"}, "automatic sender"),
        ({"sender_address": "noreply@shop.example.com"}, "automatic sender"),
        ({"sender_address": "donotreply@shop.example.com"}, "automatic sender"),
        ({"sender_address": "wiki@example.de"}, "bridge or a team mailbox"),
        ({"sender_address": "Team-Sales@example.de"}, "bridge or a team mailbox"),
        ({"subject": "Abwesenheitsnotiz: Budget 2027"}, "out-of-office"),
        ({"subject": "Automatische Antwort: Budget"}, "out-of-office"),
        ({"subject": "Out of Office: Budget"}, "out-of-office"),
        ({"subject": "Automatic reply: Budget"}, "out-of-office"),
        ({"date": NOW - timedelta(days=8)}, "older than 7 days"),
    ],
)
def test_loop_rules_suppress_the_reply(changes: dict[str, object], reason: str) -> None:
    """Each loop and backscatter rule suppresses the reply and names itself."""
    found = suppression_reason(_message(**changes), RULES, NOW, 0)
    assert found is not None and reason in found


def test_auto_submitted_no_is_a_person() -> None:
    """`Auto-Submitted: no` is how clients mark mail written by a person."""
    assert suppression_reason(_message(automation=_automation(auto_submitted="no")), RULES, NOW, 0) is None


def test_hourly_limit_per_sender() -> None:
    """The reply beyond the hourly limit for one sender is suppressed."""
    assert suppression_reason(_message(), RULES, NOW, 2) is None
    assert "last hour" in (suppression_reason(_message(), RULES, NOW, 3) or "")


def _parsed(raw: bytes) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_reply_threads_and_is_marked_automatic() -> None:
    """The reply threads (In-Reply-To, References), has Reply-To the team and is marked automatic."""
    reply = _parsed(compose_reply(_message(), CONTEXT, ReplyTexts.load("en", None), NOW).as_bytes())
    assert reply["Subject"] == "AW: Budget 2027"
    assert reply["In-Reply-To"] == "<m1@example.de>"
    assert reply["References"] == "<root@example.de> <m1@example.de>"
    assert reply["Reply-To"] == "team-sales@example.de"
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["X-Auto-Response-Suppress"] == "All"
    assert reply["Message-ID"] == reply_message_id("m1@example.de", "anna@example.de", "wiki@example.de")
    text = reply.get_body(("plain",))
    html = reply.get_body(("html",))
    assert text is not None and html is not None
    assert CONTEXT.message_url in text.get_content() and CONTEXT.page_url in text.get_content()
    assert (
        'href="https://wiki.example.de/index.php?title=Sales/Mail/Budget#msg-0123456789abcdef"'
        in html.get_content()
    )


def test_reply_prefix_added_once() -> None:
    """A subject without a reply prefix gets `Re:`; one with `Re:`/`AW:` keeps its own."""
    fresh = compose_reply(_message(subject="Budget 2027"), CONTEXT, ReplyTexts.load("en", None), NOW)
    assert fresh["Subject"] == "Re: Budget 2027"


def test_german_and_english_texts() -> None:
    """The shipped texts exist in German and English."""
    german = compose_reply(_message(), CONTEXT, ReplyTexts.load("de", None), NOW).get_body(("plain",))
    english = compose_reply(_message(), CONTEXT, ReplyTexts.load("en", None), NOW).get_body(("plain",))
    assert german is not None and english is not None
    assert "Die Unterhaltung geht jetzt im Wiki weiter" in german.get_content()
    assert "The conversation now continues in the wiki" in english.get_content()


def test_admin_templates_override_the_shipped_texts(tmp_path: Path) -> None:
    """A reply.de.txt in the template directory replaces the shipped German text."""
    (tmp_path / "reply.de.txt").write_text("Moin $sender_name, siehe $message_url\n", encoding="utf-8")
    texts = ReplyTexts.load("de", tmp_path)
    body = compose_reply(_message(), CONTEXT, texts, NOW).get_body(("plain",))
    assert body is not None
    assert body.get_content() == f"Moin Anna Schmidt, siehe {CONTEXT.message_url}\n"
    assert "Hallo" in texts.html  # files that are absent keep the shipped text


def test_html_part_escapes_mail_content() -> None:
    """A hostile subject cannot inject markup into the HTML part."""
    reply = compose_reply(
        _message(subject='<script>alert(1)</script>"'), CONTEXT, ReplyTexts.load("en", None), NOW
    )
    html = reply.get_body(("html",))
    assert html is not None
    assert "<script>" not in html.get_content()
    assert "&lt;script&gt;" in html.get_content()


def test_refusal_names_the_reason() -> None:
    """The refusal mail tells the sender why their mail was not published."""
    refusal = compose_refusal(
        _message(), "the sender is not allowed", CONTEXT, ReplyTexts.load("en", None), NOW
    )
    body = refusal.get_body(("plain",))
    assert (
        body is not None and "was not published in the wiki: the sender is not allowed" in body.get_content()
    )
    assert refusal["Auto-Submitted"] == "auto-replied"


def test_refused_senders_are_told_the_rule_in_their_language() -> None:
    """The reason a refused sender reads is a sentence about the rule, in German or English."""
    assert "freigegebene Absender" in refusal_reason("not_allowed", "de")
    assert "approved senders" in refusal_reason("not_allowed", "en")
    assert "not authenticated" in refusal_reason("not_authenticated", "en")
