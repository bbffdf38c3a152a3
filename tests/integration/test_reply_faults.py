"""Link replies under faults and to robots, against real Dovecot, MediaWiki and SMTP (aiosmtpd).

- A connection lost after the mail data went to the SMTP server leaves the reply `uncertain`:
  the server may have it, so it is never sent again. Lost before that, it is sent next pass.
- A mail whose wiki answer was lost, confirmed by the next pass's recovery from its marker on
  the page, still gets its reply.
- Delivery and read reports, bounces, auto-responders and out-of-office notices, delivered as an
  MTA delivers them (Return-Path, Delivered-To), are published but get no reply; the state
  store records each as suppressed with the reason.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing

import pytest

from bridge.adapters.smtp import Mailer
from bridge.adapters.state.store import SqliteStateStore
from bridge.core.render.page import message_anchor
from bridge.errors import WikiUnavailableError
from bridge.sync.mailbox_pass import MailboxSync
from bridge.sync.outbox import Outbox
from bridge.sync.wikisetup import install_templates
from tests.integration.support import Space, WikiReader, unique
from tests.integration.test_replies import (
    TEAM_ADDRESS,
    body_of,
    configure,
    delivered,
    events_named,
    recent,
    run,
)
from tests.lost_answers import LostAnswerWiki
from tests.servers import MediaWikiServer, SmtpSink, SmtpStage


@pytest.fixture
def sink(smtp_sink: SmtpSink) -> Iterator[SmtpSink]:
    """The empty SMTP sink; injected drops and refusals are lifted afterwards."""
    yield smtp_sink
    smtp_sink.drop_connection(None)
    smtp_sink.refuse(None)


def reply_rows(space: Space, message_id: str) -> list[tuple[str, str, str | None]]:
    """(kind, status, reason) of the replies the state store holds for one message."""
    with closing(sqlite3.connect(space.state_path)) as db:
        rows = db.execute(
            "SELECT kind, status, reason FROM replies WHERE message_id = ?", (message_id,)
        ).fetchall()
    return [
        (str(kind), str(status), None if reason is None else str(reason)) for kind, status, reason in rows
    ]


# -- SMTP connection lost ----------------------------------------------------------------------


def test_connection_lost_after_the_data_makes_the_reply_uncertain_and_it_is_never_resent(
    space: Space, reader: WikiReader, sink: SmtpSink
) -> None:
    """Fault injection (the sink closes the connection after reading the mail, before its 250):
    the server has the mail but the bridge cannot know, so the reply is `uncertain` and no later
    pass sends it again."""
    message_id = f"{unique('dropped-after-data')}@example.de"
    space.append(delivered(message_id, "Rahmenvertrag"))
    configure(space, sink)
    sink.drop_connection("DATA")

    first, events = run(space)

    assert first.published == 1 and first.replies_sent == 0 and first.replies_due == 0
    assert sink.dropped == 1 and [m.message["In-Reply-To"] for m in sink.messages] == [f"<{message_id}>"]
    [uncertain] = events_named(events, "reply.uncertain")
    assert uncertain["message_id"] == message_id
    assert reply_rows(space, message_id) == [("link", "uncertain", None)]

    second, events = run(space)
    third, _ = run(space)

    assert (second.replies_sent, third.replies_sent) == (0, 0)
    assert not events_named(events, "reply.sent")
    assert len(sink.messages) == 1
    assert reader.parse(reader.titles(space.prefix)[0]).message_ids == [message_id]


@pytest.mark.parametrize("stage", ["MAIL", "RCPT"])
def test_connection_lost_before_the_data_is_retried_and_arrives_once(
    space: Space, sink: SmtpSink, stage: SmtpStage
) -> None:
    """Fault injection (the sink closes the connection at MAIL or RCPT): nothing was sent, so the
    reply stays due and the next pass delivers it, exactly once."""
    message_id = f"{unique('dropped-before-data')}@example.de"
    space.append(delivered(message_id, "Wartungsvertrag"))
    configure(space, sink)
    sink.drop_connection(stage)

    first, events = run(space)

    assert first.published == 1 and first.replies_sent == 0 and first.replies_due == 1
    assert sink.dropped == 1 and sink.messages == []
    assert events_named(events, "reply.deferred") and not events_named(events, "reply.uncertain")
    assert reply_rows(space, message_id) == [("link", "intended", None)]

    second, _ = run(space)
    third, _ = run(space)

    assert (second.replies_sent, third.replies_sent) == (1, 0)
    assert [m.message["In-Reply-To"] for m in sink.messages] == [f"<{message_id}>"]
    assert reply_rows(space, message_id) == [("link", "sent", None)]


# -- wiki answer lost: recovery confirms, the reply still goes out -------------------------------


def pass_losing_the_wiki_answer(space: Space) -> None:
    """One pass with link replies on whose wiki edit is saved but its answer lost (the pass stops)."""
    settings = space.settings()
    mailbox, smtp = settings.mailboxes[0], settings.smtp
    assert smtp is not None
    state = SqliteStateStore(settings.state.path)
    wiki = LostAnswerWiki(settings.wiki)
    try:
        install_templates(wiki, only_missing=True)
        outbox = Outbox(
            mailbox.name,
            mailbox.replies,
            mailbox.space.language,
            smtp,
            state,
            settings.own_addresses(),
            wiki.page_url,
        )
        with Mailer(smtp) as mailer, pytest.raises(WikiUnavailableError):
            MailboxSync(mailbox, wiki, state, outbox=outbox, sender=mailer).run()
    finally:
        state.close()
        wiki.close()


def test_mail_confirmed_by_recovery_gets_its_reply(
    space: Space, reader: WikiReader, sink: SmtpSink, mediawiki: MediaWikiServer
) -> None:
    """Fault injection (wiki answers lost after the real edits, for a new page and for an append):
    each next pass finds the mail's marker on the page, publishes nothing again, and sends the
    reply that mail's sender is owed, once, linking to their message."""
    root = f"{unique('recovered-root')}@example.de"
    answer = f"{unique('recovered-answer')}@example.de"
    configure(space, sink)
    space.append(delivered(root, "Förderband FB-200"))

    pass_losing_the_wiki_answer(space)

    [title] = reader.titles(space.prefix)
    assert reader.parse(title).message_ids == [root] and sink.messages == []

    recovered, _ = run(space)

    assert recovered.published == 0 and recovered.replies_sent == 1
    [reply] = sink.messages
    assert reply.message["In-Reply-To"] == f"<{root}>" and reply.rcpt_tos == ("juergen@example.de",)
    assert f"#{message_anchor(root)}" in body_of(reply, "plain")

    space.append(
        delivered(
            answer,
            "AW: Förderband FB-200",
            sender="Anna Schmidt <anna@example.de>",
            in_reply_to=root,
            references=[root],
        )
    )
    pass_losing_the_wiki_answer(space)
    again, _ = run(space)
    quiet, _ = run(space)

    assert (again.published, again.replies_sent, quiet.replies_sent) == (0, 1, 0)
    assert reader.titles(space.prefix) == [title]
    assert reader.parse(title).message_ids == [root, answer]
    assert [m.message["In-Reply-To"] for m in sink.messages] == [f"<{root}>", f"<{answer}>"]
    assert sink.messages[1].rcpt_tos == ("anna@example.de",)


# -- robots ----------------------------------------------------------------------------------------


def _report(
    message_id: str, sender: str, return_path: str, subject: str, report_type: str, report: str
) -> bytes:
    """A multipart/report as a receiving MTA stores it (Return-Path and Delivered-To first)."""
    return (
        f"Return-Path: {return_path}\r\n"
        f"Delivered-To: {TEAM_ADDRESS}\r\n"
        "Received: from mx.example.de by imap.example.de with LMTP; Mon, 30 Nov 2026 08:00:00 +0000\r\n"
        f"From: {sender}\r\n"
        f"To: {TEAM_ADDRESS}\r\n"
        f"Subject: {subject}\r\n"
        f"Date: {recent().strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
        f"Message-ID: <{message_id}>\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type={report_type}; boundary="rep"\r\n'
        "\r\n"
        "--rep\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "This is an automatically generated report about your mail.\r\n"
        f"\r\n--rep\r\nContent-Type: message/{report_type}\r\n\r\n{report}\r\n"
        "\r\n--rep\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        "From: team-sales@example.de\r\nSubject: Angebot\r\nMessage-ID: <original@example.de>\r\n"
        "\r\n--rep--\r\n"
    ).encode()


DSN = (
    "Reporting-MTA: dns; mx.example.de\r\n\r\nFinal-Recipient: rfc822; gone@example.com\r\nAction: failed\r\n"
)
MDN = (
    "Reporting-UA: mail.example.de\r\nFinal-Recipient: rfc822; anna@example.de\r\n"
    "Disposition: manual-action/MDN-sent-manually; displayed\r\n"
)


def _robot_mail(case: str, message_id: str) -> bytes:
    mta = [("Delivered-To", TEAM_ADDRESS)]
    if case == "dsn-from-mailer-daemon":
        sender = "Mail Delivery System <MAILER-DAEMON@mx.example.de>"
        return _report(
            message_id, sender, "<>", "Undelivered Mail Returned to Sender", "delivery-status", DSN
        )
    if case == "read-receipt":
        sender = "Anna Schmidt <anna@example.de>"
        return _report(
            message_id, sender, "<anna@example.de>", "Gelesen: Angebot", "disposition-notification", MDN
        )
    if case == "bounce-return-path-mailer-daemon":
        return delivered(
            message_id,
            "failure notice",
            sender="Mail System <mail-system@mx.example.de>",
            return_path="<MAILER-DAEMON@mx.example.de>",
            extra_headers=mta,
        )
    if case == "precedence-auto-reply":
        return delivered(message_id, "Re: Angebot", extra_headers=[*mta, ("Precedence", "auto_reply")])
    if case == "x-autoreply":
        return delivered(message_id, "Re: Angebot", extra_headers=[*mta, ("X-Autoreply", "yes")])
    assert case == "out-of-office-behind-prefixes"
    return delivered(message_id, "AW: [EXT] Abwesenheitsnotiz: Angebot FB-200", extra_headers=mta)


ROBOTS = [
    ("dsn-from-mailer-daemon", "delivery or disposition report (multipart/report)"),
    ("read-receipt", "delivery or disposition report (multipart/report)"),
    ("bounce-return-path-mailer-daemon", "automatic sender (return path MAILER-DAEMON@mx.example.de)"),
    ("precedence-auto-reply", "Precedence: auto_reply"),
    ("x-autoreply", "auto-responder (X-Autoreply: yes)"),
    ("out-of-office-behind-prefixes", "out-of-office subject"),
]


@pytest.mark.parametrize(("case", "reason"), ROBOTS, ids=[case for case, _ in ROBOTS])
def test_robots_are_published_but_get_no_reply(
    space: Space, reader: WikiReader, sink: SmtpSink, case: str, reason: str
) -> None:
    """Delivery and read reports, a bounce whose Return-Path is MAILER-DAEMON, `Precedence:
    auto_reply`, `X-Autoreply` and an out-of-office subject behind `AW: [EXT]` reach the page,
    but no reply goes out; the state store keeps the suppressed reply with its reason."""
    message_id = f"{unique(case)}@example.de"
    space.append(_robot_mail(case, message_id))
    configure(space, sink, reply="every")

    result, events = run(space)

    assert result.published == 1 and result.replies_sent == 0
    assert reader.parse(reader.titles(space.prefix)[0]).message_ids == [message_id]
    assert sink.messages == []
    assert reply_rows(space, message_id) == [("link", "suppressed", reason)]
    [suppressed] = events_named(events, "reply.suppressed")
    assert suppressed["message_id"] == message_id and suppressed["reason"] == reason
