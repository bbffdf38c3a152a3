"""The `Sender` port's contract: what the outbox relies on of an SMTP server, held against the
fake (tests/fakes.py) and the aiosmtpd sink through the real `Mailer`.

Known gap, stated rather than modelled: the port does not name the envelope sender, so the empty
one (RFC 3834, no bounces to the bridge) is checked against the sink only, in the last test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.errors import MailError, MailUncertainError
from tests.contract.backends import FakeSenderBackend, SenderBackend, SinkBackend
from tests.servers import SmtpSink

REPLY = (
    b"From: wiki-bridge@example.de\r\n"
    b"To: =?utf-8?q?J=C3=BCrgen?= <juergen@example.de>\r\n"
    b"Subject: Re: Angebot\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Gr\xc3\xbc\xc3\x9fe, your mail is on the wiki:\r\n"
    b".a line that starts with a dot\r\n"
    b".\r\n"
    b"https://wiki.example.de/index.php?title=Mail/Angebot#msg-0123456789abcdef\r\n"
)


@pytest.fixture(params=["fake", "sink"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SenderBackend]:
    """The fake SMTP server, or the sink through `Mailer` (servers start only for this half)."""
    if request.param == "fake":
        yield FakeSenderBackend()
        return
    sink: SmtpSink = request.getfixturevalue("smtp_sink_session")
    sink.clear()
    real = SinkBackend(
        sink, request.getfixturevalue("dovecot"), tmp_path, request.getfixturevalue("mediawiki")
    )
    yield real
    real.close()


def test_a_reply_arrives_byte_for_byte_at_its_recipient(backend: SenderBackend) -> None:
    """8-bit text and lines starting with a dot (dot-stuffing on the wire) arrive as given."""
    backend.sender().send(REPLY, "juergen@example.de")
    assert backend.delivered() == [("juergen@example.de", REPLY)]


def test_line_ends_arrive_as_crlf(backend: SenderBackend) -> None:
    """SMTP carries CRLF: a reply composed with LF line ends arrives with CRLF ones."""
    backend.sender().send(REPLY.replace(b"\r\n", b"\n").rstrip(b"\n"), "juergen@example.de")
    assert backend.delivered() == [("juergen@example.de", REPLY)]


def test_one_session_carries_several_replies_in_order(backend: SenderBackend) -> None:
    """The outbox sends its due replies through one session."""
    sender = backend.sender()
    for number in range(3):
        sender.send(REPLY.replace(b"Angebot", f"Angebot {number}".encode()), f"p{number}@example.org")
    assert [recipient for recipient, _ in backend.delivered()] == [f"p{n}@example.org" for n in range(3)]
    assert [b"Angebot 2" in data for _, data in backend.delivered()] == [False, False, True]


def test_a_refused_reply_is_not_delivered_and_the_next_one_goes_through(backend: SenderBackend) -> None:
    """A temporary refusal is a `MailError` (not permanent): nothing arrived, the session goes on."""
    sender = backend.sender()
    with backend.refusing(), pytest.raises(MailError) as refused:
        sender.send(REPLY, "juergen@example.de")
    assert not refused.value.permanent
    assert not isinstance(refused.value, MailUncertainError)
    assert backend.delivered() == []
    sender.send(REPLY, "juergen@example.de")
    assert backend.delivered() == [("juergen@example.de", REPLY)]


def test_a_lost_answer_after_the_data_is_uncertain_though_the_reply_arrived(backend: SenderBackend) -> None:
    """The server took the mail but its 250 never came: `MailUncertainError`, never resent blindly."""
    with backend.losing_answer(), pytest.raises(MailUncertainError):
        backend.sender().send(REPLY, "juergen@example.de")
    assert backend.delivered() == [("juergen@example.de", REPLY)]


def test_replies_go_out_with_the_empty_envelope_sender(
    smtp_sink_session: SmtpSink, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Real server only (the port does not name the envelope): MAIL FROM:<>, so nothing bounces back."""
    smtp_sink_session.clear()
    real = SinkBackend(
        smtp_sink_session, request.getfixturevalue("dovecot"), tmp_path, request.getfixturevalue("mediawiki")
    )
    real.sender().send(REPLY, "juergen@example.de")
    real.close()
    assert [mail.mail_from for mail in smtp_sink_session.messages] == ["<>"]
