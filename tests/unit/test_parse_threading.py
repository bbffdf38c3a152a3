"""`parse_threading` reads a header probe's threading fields exactly as `parse_message` reads them
(the mail corpus, hostile mail from Hypothesis), and for well-formed mail as from the whole mail."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from bench.corpus import build_corpus
from bridge.core.model import Message
from bridge.core.parsing import parse_message, parse_threading
from bridge.errors import MessageError
from tests.fakes import thread_fields
from tests.hostile import hostile_mail, hostile_mails
from tests.mailgen import generate_mailbox
from tests.unit import test_corpus as corpus

STAND_IN = "uid-1@backlog.invalid"


def _threading(message: Message) -> tuple[object, ...]:
    message_id = message.message_id if message.has_own_id else STAND_IN
    return (message_id, message.references, message.thread_index, message.date, message.has_own_id)


def _agrees(raw: bytes) -> None:
    """The probe's fields read alone give what the full parser gives for the same header block."""
    block = thread_fields(raw)
    try:
        expected = parse_message(block + b"\r\n")
    except MessageError:
        expected = None  # an empty block: the backlog leaves such mail to the body fetch
    if expected is None:
        assert block.strip() == b""
        return
    probed = parse_threading(block, STAND_IN)
    assert _threading(probed) == _threading(expected)
    assert (probed.subject, probed.body_text, probed.attachments) == ("", "", ())


def _well_formed() -> list[bytes]:
    mails = generate_mailbox(seed=21, messages=300, missing_parents=True, shuffle=True).mails
    return mails + build_corpus(4711, 200).mails


def test_well_formed_mail_is_threaded_by_its_probe_as_by_the_whole_mail() -> None:
    """Generated mailboxes and the bench corpus: the probe tells the same ids, parents and date."""
    for raw in _well_formed():
        probed = parse_threading(thread_fields(raw), STAND_IN)
        assert _threading(probed) == _threading(parse_message(raw))


@pytest.mark.parametrize("raw", [corpus.load(name) for name in corpus.PARSED_NAMES] + hostile_mails(5, 150))
def test_corpus_and_hostile_mail_probes_are_read_as_the_full_parser_reads_them(
    raw: bytes,
) -> None:
    _agrees(raw)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_mail())
def test_generated_hostile_probes_are_read_as_the_full_parser_reads_them(
    raw: bytes,
) -> None:
    _agrees(raw)
