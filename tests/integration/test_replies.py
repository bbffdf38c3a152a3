"""Link replies end to end: real Dovecot, real MediaWiki and a real SMTP server (the aiosmtpd sink).

Every mail is APPENDed over IMAP with the trace headers a delivering MTA adds (`Return-Path`),
and every reply is read back from the sink as it arrived over SMTP.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, MutableMapping, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests
from structlog.testing import capture_logs

from bridge.core.render.page import message_anchor
from bridge.sync.mailbox_pass import PassResult
from tests.integration.support import Space, WikiReader, make_mail, smtp_section, unique
from tests.servers import MediaWikiServer, ReceivedMail, SmtpSink, SmtpStage

TEAM_ADDRESS = "team-sales@example.de"
SUPPORT_ADDRESS = "team-support@example.de"
BRIDGE_ADDRESS = "wiki-bridge@example.de"
SENDER = "Jürgen Müller <juergen@example.de>"
SENDER_ADDRESS = "juergen@example.de"
LogEvents = list[MutableMapping[str, Any]]


@pytest.fixture
def sink(smtp_sink: SmtpSink) -> Iterator[SmtpSink]:
    """The empty SMTP sink; any injected refusal is lifted and a stopped sink restarted afterwards."""
    yield smtp_sink
    smtp_sink.refuse(None)
    smtp_sink.start()


def recent(minutes: int = 5) -> datetime:
    """A Date a few minutes ago: well inside reply_max_age_days."""
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes)


def _address_of(sender: str) -> str:
    match = re.search(r"<([^<>]+)>", sender)
    return match.group(1) if match else sender


def delivered(
    message_id: str,
    subject: str,
    body: str = "Hallo Team,\nanbei die Zahlen.\n",
    *,
    sender: str = SENDER,
    return_path: str | None = "",
    extra_headers: Sequence[tuple[str, str]] = (),
    date: datetime | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
) -> bytes:
    """A mail as the team mailbox holds it after delivery: Return-Path first (the sender's address
    unless `return_path` says otherwise; None leaves it out), dated a few minutes ago."""
    headers: list[tuple[str, str]] = []
    if return_path is not None:
        headers.append(("Return-Path", return_path or f"<{_address_of(sender)}>"))
    headers.extend(extra_headers)
    return make_mail(
        message_id,
        subject,
        body,
        sender=sender,
        headers=headers,
        date=date or recent(),
        in_reply_to=in_reply_to,
        references=references,
    )


def configure(space: Space, sink: SmtpSink, smtp: dict[str, Any] | None = None, **overrides: Any) -> None:
    """Write the space's config with an [smtp] section pointing at the sink and a second team
    mailbox (support), whose address must never get a reply either."""
    support = space.mailbox_table(
        name="support",
        username="team-support",
        password_file=str(space.secret_file("team-support", space.dovecot.users["team-support"])),
        folders=[f"{space.folders[0]}-support"],
        page_prefix=f"{space.prefix}-support",
        address=SUPPORT_ADDRESS,
    )
    settings: dict[str, Any] = {"address": TEAM_ADDRESS, "reply": "first"}
    settings.update(overrides)
    space.write_config([support], smtp=smtp_section(sink, **(smtp or {})), **settings)


def run(space: Space) -> tuple[PassResult, LogEvents]:
    """One full in-process pass (as the daemon runs it); returns its result and its log events."""
    with capture_logs() as events:
        result = space.bridge_pass()
    assert result is not None, [e for e in events if e.get("log_level") in ("error", "warning")]
    return result, events


def events_named(events: LogEvents, name: str) -> LogEvents:
    """The log events called `name`."""
    return [event for event in events if event.get("event") == name]


def body_of(mail: ReceivedMail, subtype: str) -> str:
    """The decoded text of the reply's text/`subtype` part."""
    part = mail.message.get_body(preferencelist=(subtype,))
    assert part is not None and part.get_content_type() == f"text/{subtype}", mail.message
    assert isinstance(part, EmailMessage)
    return str(part.get_content()).replace("\r\n", "\n")


def the_page(reader: WikiReader, space: Space) -> str:
    """The one page of the space."""
    [title] = reader.titles(space.prefix)
    return title


# -- the reply itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "greeting", "link_words"),
    [
        ("en", "Hello Jürgen Müller", ("Your message:", "The whole conversation:")),
        ("de", "Hallo Jürgen Müller", ("Ihre Nachricht:", "Die ganze Unterhaltung:")),
    ],
)
def test_link_reply_is_threaded_automatic_and_links_to_the_message(
    space: Space,
    reader: WikiReader,
    sink: SmtpSink,
    mediawiki: MediaWikiServer,
    language: str,
    greeting: str,
    link_words: tuple[str, str],
) -> None:
    """The sender gets one reply: threaded to their mail, marked automatic, text and HTML, in the
    mapping's language, with working links to the page and the message's anchor, from `<>`."""
    message_id = f"{unique('offer')}@example.de"
    space.append(delivered(message_id, "Angebot Förderband FB-200"))
    configure(space, sink, language=language)

    result, _events = run(space)

    assert result.published == 1 and result.replies_sent == 1
    title = the_page(reader, space)
    [mail] = sink.messages
    assert mail.mail_from == "<>"  # RFC 3834: an empty envelope sender, so nothing bounces back
    assert mail.rcpt_tos == (SENDER_ADDRESS,)
    reply = mail.message
    assert reply["Subject"] == "Re: Angebot Förderband FB-200"
    assert reply["In-Reply-To"] == f"<{message_id}>"
    assert reply["References"] == f"<{message_id}>"
    assert reply["Reply-To"] == TEAM_ADDRESS
    assert reply["From"] == BRIDGE_ADDRESS
    assert reply["To"].addresses[0].addr_spec == SENDER_ADDRESS
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["X-Auto-Response-Suppress"] == "All"
    assert reply.get_content_type() == "multipart/alternative"

    page_url = mediawiki.page_url(title)
    message_url = f"{page_url}#{message_anchor(message_id)}"
    text, html_part = body_of(mail, "plain"), body_of(mail, "html")
    assert greeting in text and all(words in text for words in link_words)
    assert message_url in text and f"{page_url}\n" in text
    assert f'href="{message_url}"' in html_part and f'href="{page_url}"' in html_part
    assert ("Hallo" in text, "Hello" in text) == (language == "de", language == "en")  # no mixed texts
    assert ("Ihre Nachricht" in html_part) == (language == "de")

    response = requests.get(page_url, timeout=30)
    assert response.status_code == 200
    assert f'id="{message_anchor(message_id)}"' in response.text  # the anchor exists on the page
    assert message_id in reader.parse(title).message_ids


def test_reply_names_the_original_message_id_exactly_as_written(space: Space, sink: SmtpSink) -> None:
    """In-Reply-To and References repeat the original ids byte for byte (mail clients compare
    them as strings), even when their domain is written in capitals."""
    root = f"{unique('Root.Case')}@Mail.Example.DE"
    message_id = f"{unique('Reply.Case')}@Mail.Example.DE"
    space.append(delivered(message_id, "AW: Liefertermin", references=[root], in_reply_to=root))
    configure(space, sink)

    run(space)

    [mail] = sink.messages
    assert mail.message["Subject"] == "AW: Liefertermin"  # no "Re: AW:" stacking
    assert mail.message["In-Reply-To"] == f"<{message_id}>"
    assert mail.message["References"] == f"<{root}> <{message_id}>"


def test_admin_templates_replace_the_shipped_text(space: Space, sink: SmtpSink, tmp_path: Path) -> None:
    """A `reply.de.txt` in the `reply_templates` directory is used with its placeholders filled;
    parts without an override file keep the shipped text."""
    templates = tmp_path / "reply-templates"
    templates.mkdir()
    (templates / "reply.de.txt").write_text(
        "Moin $sender_name!\nIhr Beitrag „$subject“ steht jetzt hier: $message_url\nPostfach: $mailbox\n",
        encoding="utf-8",
    )
    message_id = f"{unique('tmpl')}@example.de"
    space.append(delivered(message_id, "Messestand Hannover"))
    configure(space, sink, language="de", reply_templates=str(templates))

    run(space)

    [mail] = sink.messages
    text = body_of(mail, "plain")
    assert text.startswith("Moin Jürgen Müller!\nIhr Beitrag „Messestand Hannover“ steht jetzt hier: http")
    assert f"#{message_anchor(message_id)}\n" in text
    assert "Postfach: sales" in text
    assert "Hallo" not in text
    assert "Ihre Nachricht" in body_of(mail, "html")  # no reply.de.html: the shipped HTML part


# -- reply modes -----------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "replies"), [("first", 1), ("every", 2), ("never", 0)])
def test_reply_mode_decides_about_a_second_mail_in_the_same_thread(
    space: Space, reader: WikiReader, sink: SmtpSink, mode: str, replies: int
) -> None:
    """`first`: one reply per person and thread; `every`: one per mail; `never`: none at all."""
    root = f"{unique('mode-root')}@example.de"
    follow_up = f"{unique('mode-next')}@example.de"
    configure(space, sink, reply=mode)
    space.append(delivered(root, "Messeplanung 2027"))
    first, _ = run(space)
    space.append(
        delivered(follow_up, "Re: Messeplanung 2027", "Noch ein Punkt.", in_reply_to=root, references=[root])
    )
    second, events = run(space)

    assert (first.published, second.published) == (1, 1)
    assert reader.parse(the_page(reader, space)).message_ids == [root, follow_up]
    assert len(sink.messages) == replies
    assert [m.message["In-Reply-To"] for m in sink.messages] == [f"<{root}>", f"<{follow_up}>"][:replies]
    if mode == "every":
        assert sink.messages[1].message["References"] == f"<{root}> <{follow_up}>"
    if mode == "first":
        [suppressed] = events_named(events, "reply.suppressed")
        assert suppressed["message_id"] == follow_up and "reply = first" in suppressed["reason"]


def test_first_mode_still_replies_to_another_person_in_the_thread(space: Space, sink: SmtpSink) -> None:
    """`first` counts per person: a colleague joining the thread gets their own reply."""
    root = f"{unique('colleague-root')}@example.de"
    answer = f"{unique('colleague-answer')}@example.de"
    configure(space, sink, reply="first")
    space.append(delivered(root, "Reisekosten"))
    space.append(
        delivered(answer, "AW: Reisekosten", sender="Anna Schmidt <anna@example.de>", in_reply_to=root)
    )
    run(space)
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == ["anna@example.de", SENDER_ADDRESS]


# -- loop and backscatter rules ----------------------------------------------------------------

# (test id, sender, Return-Path ("" = the sender's; None = none), further headers, subject,
#  days old, the reason the log must give)
LOOP_RULES: list[tuple[str, str, str | None, list[tuple[str, str]], str, int, str]] = [
    ("auto-submitted", SENDER, "", [("Auto-Submitted", "auto-generated")], "Report", 0, "Auto-Submitted"),
    ("precedence-bulk", SENDER, "", [("Precedence", "bulk")], "Newsletter", 0, "Precedence: bulk"),
    ("precedence-list", SENDER, "", [("Precedence", "list")], "Digest", 0, "Precedence: list"),
    ("precedence-junk", SENDER, "", [("Precedence", "junk")], "Angebot", 0, "Precedence: junk"),
    ("list-id", SENDER, "", [("List-Id", "Vertrieb <vertrieb.lists.example.de>")], "Liste", 0, "List-Id"),
    (
        "list-unsubscribe",
        SENDER,
        "",
        [("List-Unsubscribe", "<mailto:leave@lists.example.de>")],
        "Liste",
        0,
        "List-Unsubscribe",
    ),
    ("empty-return-path", SENDER, "<>", [], "Zustellung", 0, "return path"),
    ("missing-return-path", SENDER, None, [], "Zustellung", 0, "return path"),
    (
        "mailer-daemon",
        "Mail Delivery System <MAILER-DAEMON@mx.example.de>",
        "",
        [],
        "Undelivered Mail Returned to Sender",
        0,
        "automatic sender",
    ),
    ("postmaster", "postmaster@example.de", "", [], "Postfach voll", 0, "automatic sender"),
    ("noreply", "Shop <noreply@shop.example.com>", "", [], "Ihre Bestellung", 0, "automatic sender"),
    ("ooo-abwesenheitsnotiz", SENDER, "", [], "Abwesenheitsnotiz: Angebot", 0, "out-of-office"),
    ("ooo-automatische-antwort", SENDER, "", [], "Automatische Antwort: Angebot", 0, "out-of-office"),
    ("ooo-out-of-office", SENDER, "", [], "Out of Office: Offer", 0, "out-of-office"),
    ("ooo-automatic-reply", SENDER, "", [], "Automatic reply: Offer", 0, "out-of-office"),
    ("own-from-address", f"Wiki <{BRIDGE_ADDRESS}>", "", [], "Re: Angebot", 0, "the bridge or a team"),
    ("other-team-mailbox", f"Support <{SUPPORT_ADDRESS}>", "", [], "Angebot", 0, "the bridge or a team"),
    ("older-than-max-age", SENDER, "", [], "Alte Anfrage", 10, "older than 7 days"),
    # Exchange's request not to be auto-answered, which the bridge's own replies carry for this
    # very purpose (any reason will do).
    ("x-auto-response-suppress", SENDER, "", [("X-Auto-Response-Suppress", "All")], "Termin", 0, ""),
]


@pytest.mark.parametrize(
    ("sender", "return_path", "headers", "subject", "days_old", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in LOOP_RULES],
)
def test_loop_rule_suppresses_the_reply_but_not_the_page(
    space: Space,
    reader: WikiReader,
    sink: SmtpSink,
    sender: str,
    return_path: str | None,
    headers: list[tuple[str, str]],
    subject: str,
    days_old: int,
    reason: str,
) -> None:
    """Mail that is automatic, from a list, from a bounce or no-reply address, an out-of-office
    notice, from the bridge or a team mailbox, or too old is published but gets no reply; the log
    says why (`reply.suppressed`)."""
    message_id = f"{unique('loop')}@example.de"
    space.append(
        delivered(
            message_id,
            subject,
            sender=sender,
            return_path=return_path,
            extra_headers=headers,
            date=recent() - timedelta(days=days_old),
        )
    )
    configure(space, sink, reply="every")

    result, events = run(space)

    assert result.published == 1
    assert reader.parse(the_page(reader, space)).message_ids == [message_id]
    assert sink.messages == []
    [suppressed] = events_named(events, "reply.suppressed")
    assert suppressed["message_id"] == message_id and suppressed["kind"] == "link"
    assert reason in suppressed["reason"]
    assert not events_named(events, "reply.sent")


@pytest.mark.parametrize(
    ("headers", "subject"),
    [
        pytest.param([("Auto-Submitted", "no")], "Angebot", id="auto-submitted-no"),
        pytest.param([], "Urlaubsplanung 2027", id="subject-urlaubsplanung"),
        pytest.param([], "Vacation policy for 2027", id="subject-vacation-policy"),
    ],
)
def test_human_mail_that_resembles_a_loop_rule_still_gets_its_reply(
    space: Space, sink: SmtpSink, headers: list[tuple[str, str]], subject: str
) -> None:
    """`Auto-Submitted: no` is a person's mail, and a subject merely starting with a holiday word
    (planning the holidays, a policy question) is no out-of-office notice."""
    space.append(delivered(f"{unique('human')}@example.de", subject, extra_headers=headers))
    configure(space, sink)
    _result, events = run(space)
    assert len(sink.messages) == 1, events_named(events, "reply.suppressed")


def test_replies_per_sender_and_hour_are_limited(space: Space, reader: WikiReader, sink: SmtpSink) -> None:
    """Beyond `max_replies_per_sender_per_hour` a sender gets no more replies; the mail is still published."""
    ids = [f"{unique('rate')}@example.de" for _ in range(3)]
    for number, message_id in enumerate(ids):
        space.append(delivered(message_id, f"Frage {number + 1} zum Angebot"))
    configure(space, sink, smtp={"max_replies_per_sender_per_hour": 2}, reply="every")

    result, events = run(space)

    assert result.published == 3 and len(reader.titles(space.prefix)) == 3
    assert [m.message["In-Reply-To"] for m in sink.messages] == [f"<{ids[0]}>", f"<{ids[1]}>"]
    [suppressed] = events_named(events, "reply.suppressed")
    assert suppressed["message_id"] == ids[2]
    assert "already 2 replies" in suppressed["reason"]


# -- SMTP faults -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "refusal"),
    [
        pytest.param("DATA", "451 4.3.0 Mailbox busy, try again later", id="451-at-DATA"),
        pytest.param("RCPT", "450 4.7.1 Relaying temporarily denied", id="450-at-RCPT"),
        pytest.param("MAIL", "421 4.7.0 Too many connections", id="421-at-MAIL"),
    ],
)
def test_reply_refused_by_the_smtp_server_is_retried_and_arrives_once(
    space: Space, reader: WikiReader, sink: SmtpSink, stage: SmtpStage, refusal: str
) -> None:
    """Fault injection: while the SMTP server refuses, the page is published and the reply waits;
    the next pass after the server recovers sends it, exactly once."""
    message_id = f"{unique('smtp-refused')}@example.de"
    space.append(delivered(message_id, "Rahmenvertrag"))
    configure(space, sink)
    sink.refuse(refusal, stage)

    refused, events = run(space)

    assert refused.published == 1 and refused.replies_sent == 0 and refused.replies_due == 1
    assert reader.parse(the_page(reader, space)).message_ids == [message_id]
    assert sink.refused >= 1 and sink.messages == []
    assert events_named(events, "reply.deferred")

    sink.refuse(None)
    retried, _ = run(space)
    again, _ = run(space)

    assert (retried.published, retried.replies_sent, again.replies_sent) == (0, 1, 0)
    assert [m.message["In-Reply-To"] for m in sink.messages] == [f"<{message_id}>"]


def test_a_permanently_refused_recipient_does_not_hold_up_other_replies(space: Space, sink: SmtpSink) -> None:
    """Fault injection: the SMTP server refuses one recipient for good (550 at RCPT); replies to
    everyone else still go out on the next pass instead of queueing behind it forever."""
    gone = f"{unique('gone')}@example.de"
    configure(space, sink)
    sink.refuse(
        "550 5.1.1 <left@example.de>: Recipient address rejected", "RCPT", recipient="left@example.de"
    )
    space.append(delivered(gone, "Kündigung", sender="Former Colleague <left@example.de>"))
    first, _ = run(space)
    assert first.published == 1 and sink.messages == [] and sink.refused == 1

    waiting = f"{unique('waiting')}@example.de"
    space.append(delivered(waiting, "Neue Bestellung"))
    run(space)

    assert [m.message["In-Reply-To"] for m in sink.messages] == [f"<{waiting}>"]


def test_reply_waits_while_the_smtp_server_is_down_and_arrives_once(
    space: Space, reader: WikiReader, sink: SmtpSink
) -> None:
    """With the SMTP server stopped (connection refused) the page is still published; the reply
    goes out on the first pass after the server is back, and only then."""
    message_id = f"{unique('smtp-down')}@example.de"
    space.append(delivered(message_id, "Wartungsvertrag"))
    configure(space, sink)
    sink.stop()

    down, events = run(space)

    assert down.published == 1 and down.replies_due == 1
    assert reader.parse(the_page(reader, space)).message_ids == [message_id]
    assert events_named(events, "reply.deferred")

    sink.start()
    back, _ = run(space)
    later, _ = run(space)

    assert (back.replies_sent, later.replies_sent) == (1, 0)
    assert [m.message["In-Reply-To"] for m in sink.messages] == [f"<{message_id}>"]


def test_from_address_with_a_display_name_arrives_encoded_from_an_empty_envelope(
    space: Space, sink: SmtpSink
) -> None:
    """`from_address = "Wiki-Brücke <…>"`: the From header carries the name as RFC 2047 encoded
    words and decodes to the name and the address; the envelope sender is still empty."""
    space.append(delivered(f"{unique('named')}@example.de", "Lieferschein"))
    configure(space, sink, smtp={"from_address": f"Wiki-Brücke <{BRIDGE_ADDRESS}>"})

    result, _events = run(space)

    assert result.replies_sent == 1
    [mail] = sink.messages
    assert mail.mail_from == "<>"
    headers = re.split(rb"\r?\n\r?\n", mail.data, maxsplit=1)[0]  # as it arrived over SMTP
    assert headers.isascii() and b"=?utf-8?q?Wiki-Br=C3=BCcke?=" in headers
    (sender,) = mail.message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Wiki-Brücke", BRIDGE_ADDRESS)
