"""Link-reply policy and composition (pure)."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core.model import AutomationHeaders, Message
from bridge.core.replies import (
    ReplyContext,
    ReplyRules,
    ReplySeed,
    ReplyTexts,
    compose_refusal,
    compose_reply,
    is_out_of_office,
    loop_reason,
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


def _seed(**changes: object) -> ReplySeed:
    return ReplySeed.of(_message(**changes))


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
    reply = _parsed(compose_reply(_seed(), CONTEXT, ReplyTexts.load("en", None), NOW).as_bytes())
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
    fresh = compose_reply(_seed(subject="Budget 2027"), CONTEXT, ReplyTexts.load("en", None), NOW)
    assert fresh["Subject"] == "Re: Budget 2027"


def test_german_and_english_texts() -> None:
    """The shipped texts exist in German and English."""
    german = compose_reply(_seed(), CONTEXT, ReplyTexts.load("de", None), NOW).get_body(("plain",))
    english = compose_reply(_seed(), CONTEXT, ReplyTexts.load("en", None), NOW).get_body(("plain",))
    assert german is not None and english is not None
    assert "Die Unterhaltung geht jetzt im Wiki weiter" in german.get_content()
    assert "The conversation now continues in the wiki" in english.get_content()


def test_admin_templates_override_the_shipped_texts(tmp_path: Path) -> None:
    """A reply.de.txt in the template directory replaces the shipped German text."""
    (tmp_path / "reply.de.txt").write_text("Moin $sender_name, siehe $message_url\n", encoding="utf-8")
    texts = ReplyTexts.load("de", tmp_path)
    body = compose_reply(_seed(), CONTEXT, texts, NOW).get_body(("plain",))
    assert body is not None
    assert body.get_content() == f"Moin Anna Schmidt, siehe {CONTEXT.message_url}\n"
    assert "Hallo" in texts.html  # files that are absent keep the shipped text


def test_html_part_escapes_mail_content() -> None:
    """A hostile subject cannot inject markup into the HTML part."""
    reply = compose_reply(
        _seed(subject='<script>alert(1)</script>"'), CONTEXT, ReplyTexts.load("en", None), NOW
    )
    html = reply.get_body(("html",))
    assert html is not None
    assert "<script>" not in html.get_content()
    assert "&lt;script&gt;" in html.get_content()


def test_refusal_names_the_reason() -> None:
    """The refusal mail tells the sender why their mail was not published."""
    refusal = compose_refusal(_seed(), "the sender is not allowed", CONTEXT, ReplyTexts.load("en", None), NOW)
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


# -- robots: reports, bounce senders, auto-responders, out-of-office notices -------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"automation": _automation(content_types=("multipart/report", "text/plain"))}, "multipart/report"),
        (
            {"automation": _automation(content_types=("multipart/mixed", "message/delivery-status"))},
            "message/delivery-status",
        ),
        (
            {
                "automation": _automation(
                    content_types=("multipart/mixed", "Message/Disposition-Notification")
                )
            },
            "disposition",
        ),
        ({"automation": _automation(return_path="MAILER-DAEMON@mx.example.de")}, "return path"),
        ({"automation": _automation(return_path="bounces+1234@mail.example.com")}, "return path"),
        ({"automation": _automation(sender="Postmaster@example.de")}, "Sender"),
        ({"sender_address": "mailer_daemon@example.de"}, "automatic sender"),
        ({"sender_address": "MailerDaemon@example.de"}, "automatic sender"),
        ({"sender_address": "no_reply-orders@shop.example.com"}, "automatic sender"),
        ({"sender_name": "Mail Delivery System"}, "Mail Delivery System"),
        ({"sender_name": "  mail   delivery SUBSYSTEM "}, "automatic sender"),
        ({"automation": _automation(precedence="auto_reply")}, "Precedence"),
        ({"automation": _automation(precedence="Auto_Reply")}, "Precedence"),
        ({"automation": _automation(autoresponder=("X-Autoreply: yes",))}, "X-Autoreply"),
        ({"automation": _automation(autoresponder=("X-Autorespond: Urlaub",))}, "X-Autorespond"),
        ({"automation": _automation(auto_response_suppress="DR, NDR")}, "X-Auto-Response-Suppress"),
        ({"automation": _automation(auto_response_suppress="OOF")}, "X-Auto-Response-Suppress"),
        ({"automation": _automation(auto_submitted="Auto-Replied")}, "Auto-Submitted"),
        ({"automation": _automation(auto_submitted="auto-generated (vacation); x=1")}, "Auto-Submitted"),
    ],
)
def test_robots_get_no_reply(changes: dict[str, object], reason: str) -> None:
    """Delivery and read reports, bounce and no-reply senders (From, Sender or Return-Path, any
    spelling), auto-responder headers: each suppresses the reply and names itself."""
    found = loop_reason(_message(**changes), RULES.own_addresses)
    assert found is not None and reason in found


@pytest.mark.parametrize(
    "automation",
    [
        _automation(auto_submitted="No"),
        _automation(auto_submitted="no (written by a person)"),
        _automation(auto_response_suppress="None"),
        _automation(autoresponder=("X-Autoreply: no",)),
        _automation(content_types=("multipart/mixed", "text/plain", "message/rfc822")),
        _automation(sender="assistant@example.de", return_path="SRS0=ab=cd@example.de"),
    ],
)
def test_people_who_look_a_little_like_robots_get_their_reply(automation: AutomationHeaders) -> None:
    """`Auto-Submitted: no`, `X-Auto-Response-Suppress: None`, a forwarded mail (message/rfc822)
    and an assistant sending on someone's behalf are people."""
    assert loop_reason(_message(automation=automation), RULES.own_addresses) is None


OUT_OF_OFFICE = [
    "Re: Abwesenheitsnotiz: Budget 2027",
    "[EXT] Automatic reply: Budget 2027",
    "Out of Office",
    "Automatische Antwort",
    "Ich bin nicht im Büro",
    "Abwesend",
    "AutoReply",
    "AW: [EXT] Out-of-Office: Angebot",
    "RE: Automatische Antwort: AW: Angebot",
    "EXTERN: Abwesenheitsnotiz: Angebot",
    "Auto: Budget",
    "Automatic Reply",
]
NOT_OUT_OF_OFFICE = [
    "Urlaubsplanung 2027",
    "Vacation policy for 2027",
    "Re: Budget 2027",
    "Automatisierung der Antwortzeiten",
    "Auto reply settings in Outlook",
    "Abwesenheit im Dezember",
    "Office party",
    "Re: Out of stock",
    "Büroumzug",
]


@pytest.mark.parametrize("subject", OUT_OF_OFFICE)
def test_out_of_office_subjects_also_behind_prefixes(subject: str) -> None:
    """Out-of-office notices in German and English, also behind `Re:`, `AW:` and `[EXT]` tags."""
    assert is_out_of_office(subject)
    assert loop_reason(_message(subject=subject), RULES.own_addresses) == "out-of-office subject"


@pytest.mark.parametrize("subject", NOT_OUT_OF_OFFICE)
def test_ordinary_subjects_are_no_out_of_office_notice(subject: str) -> None:
    """Subjects about holidays, automation or offices are written by people."""
    assert not is_out_of_office(subject)


def _variant(draw: st.DrawFn, phrase: str) -> str:
    """`phrase` in random case, its word breaks as random runs of blanks, tabs or hyphens."""
    cased = "".join(draw(st.sampled_from([c.lower(), c.upper()])) for c in phrase)
    gaps = st.sampled_from([" ", "  ", "\t", " \t ", "-", " - "])
    return "".join(draw(gaps) if c == " " else c for c in cased)


OUT_OF_OFFICE_PHRASES = [
    "Abwesenheitsnotiz:",
    "Automatic reply:",
    "Out of Office",
    "Out of the office:",
    "Automatische Antwort:",
    "Ich bin nicht im Büro",
    "Abwesend",
    "AutoReply",
    "Auto:",
    "Automatic response",
    "Away from the office",
]


@st.composite
def _out_of_office_subjects(draw: st.DrawFn) -> str:
    prefixes = draw(
        st.lists(
            st.sampled_from(["Re: ", "AW: ", "WG: ", "Fwd: ", "[EXT] ", "EXTERNAL: ", "RE:", "[ext]"]),
            max_size=3,
        )
    )
    phrase = _variant(draw, draw(st.sampled_from(OUT_OF_OFFICE_PHRASES)))
    rest = draw(st.sampled_from(["", " Angebot FB-200", " AW: Budget 2027", " bis 3.1."]))
    colon = "" if not rest or phrase.endswith(":") else draw(st.sampled_from([":", " :"]))
    return " " * draw(st.integers(0, 2)) + "".join(prefixes) + phrase + colon + rest


@st.composite
def _ordinary_subjects(draw: st.DrawFn) -> str:
    prefixes = draw(st.lists(st.sampled_from(["Re: ", "AW: ", "[EXT] "]), max_size=2))
    return "".join(prefixes) + _variant(draw, draw(st.sampled_from(NOT_OUT_OF_OFFICE)))


@given(_out_of_office_subjects())
def test_out_of_office_in_any_case_and_spacing(subject: str) -> None:
    """Property: case, blanks, tabs and hyphens between the words, and any reply prefixes or
    [EXT] tags in front, do not hide an out-of-office notice (alone, or before a colon)."""
    assert is_out_of_office(subject), subject


@given(_ordinary_subjects())
def test_ordinary_subjects_stay_ordinary_in_any_case_and_spacing(subject: str) -> None:
    """Property: no spelling of an ordinary subject turns it into an out-of-office notice."""
    assert not is_out_of_office(subject), subject


@given(
    local=st.sampled_from(
        ["mailer-daemon", "mailer_daemon", "mailerdaemon", "postmaster", "no-reply", "bounce"]
    ),
    data=st.data(),
)
def test_robot_addresses_in_any_case(local: str, data: st.DataObject) -> None:
    """Property: MAILER-DAEMON, postmaster, no-reply and bounce addresses in any case, as From,
    Sender or Return-Path, get no reply."""
    address = "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in local) + "@mx.example.de"
    field = data.draw(st.sampled_from(["from", "sender", "return_path"]))
    if field == "from":
        message = _message(sender_address=address)
    else:
        message = _message(automation=_automation(**{field: address}))
    found = loop_reason(message, RULES.own_addresses)
    assert found is not None and "automatic sender" in found


@given(
    value=st.sampled_from(["auto-replied", "auto-generated", "auto-notified", "yes"]),
    data=st.data(),
)
def test_auto_submitted_in_any_case_and_with_parameters(value: str, data: st.DataObject) -> None:
    """Property: any Auto-Submitted value but `no`, in any case, with parameters or comments,
    marks a robot; `no` in any spelling marks a person."""
    cased = "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in value)
    tail = data.draw(st.sampled_from(["", "; owner-email=x@example.de", " (vacation)", " ;x=1"]))
    robot = _automation(auto_submitted=data.draw(st.sampled_from(["", " ", "\t"])) + cased + tail)
    assert loop_reason(_message(automation=robot), RULES.own_addresses) is not None
    person = _automation(
        auto_submitted="".join(data.draw(st.sampled_from([c, c.upper()])) for c in "no") + tail
    )
    assert loop_reason(_message(automation=person), RULES.own_addresses) is None


def test_reply_seed_round_trips_through_json() -> None:
    """What is stored before the wiki edit composes the same reply after recovery."""
    seed = _seed(original_id="M1@Example.DE", original_references=("Root@Example.DE",))
    again = ReplySeed.from_json(seed.to_json())
    assert again == seed
    texts = ReplyTexts.load("de", None)
    before, after = (compose_reply(s, CONTEXT, texts, NOW) for s in (seed, again))
    assert after.items() == before.items() and after["In-Reply-To"] == "<M1@Example.DE>"
    assert [part.get_content() for part in after.iter_parts()] == [
        p.get_content() for p in before.iter_parts()
    ]
