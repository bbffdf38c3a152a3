"""Threading beyond plain references: Outlook Thread-Index, subject joining, list tags."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from bridge.core.model import Message
from bridge.core.msgid import thread_index_id
from bridge.core.parsing import parse_message
from bridge.core.subjects import base_subject, is_generic, subject_key
from bridge.core.threads import KnownSubject, ThreadGroup, group_messages, subject_keys_of

CONVERSATION = bytes(range(22))
DAY = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _index(blocks: int) -> str:
    return base64.b64encode(CONVERSATION + b"\x01\x02\x03\x04\x05" * blocks).decode()


def _message(
    message_id: str,
    subject: str = "Topic",
    *,
    references: tuple[str, ...] = (),
    days: int = 0,
    thread_index: str | None = None,
) -> Message:
    return Message(
        message_id=message_id,
        references=references,
        subject=subject,
        sender_name="A",
        sender_address="a@example.org",
        date=DAY + timedelta(days=days),
        body_text="x",
        thread_index=thread_index,
    )


def _partition(groups: list[ThreadGroup]) -> set[frozenset[str]]:
    return {frozenset(m.message_id for m in group.messages) for group in groups}


def test_thread_index_of_a_reply_names_the_same_conversation() -> None:
    """A reply's Thread-Index (the root's 22 bytes plus 5-byte blocks) maps to the root's id."""
    assert thread_index_id(_index(0)) == thread_index_id(_index(3))
    assert thread_index_id(_index(0)) is not None


def test_thread_index_rejects_garbage_and_short_values() -> None:
    """Invalid base64 and values shorter than the 22-byte header give no id."""
    assert thread_index_id("not base64!!") is None
    assert thread_index_id(base64.b64encode(b"short").decode()) is None
    assert thread_index_id(None) is None


def test_outlook_replies_without_references_join_by_thread_index() -> None:
    """Mails without References but with one Outlook conversation form one thread."""
    root = _message("root@ex.org", thread_index=thread_index_id(_index(0)))
    reply = _message("reply@ex.org", "AW: Topic", days=1, thread_index=thread_index_id(_index(1)))
    other = _message("other@ex.org", "Topic", days=1)
    groups = group_messages([reply, other, root], {})
    assert _partition(groups) == {frozenset({"root@ex.org", "reply@ex.org"}), frozenset({"other@ex.org"})}


def test_references_win_over_thread_index() -> None:
    """A mail with References is threaded by them, not by a Thread-Index it also carries."""
    tix = thread_index_id(_index(1))
    message = _message("m@ex.org", references=("p@ex.org",), thread_index=tix)
    assert message.links == ("p@ex.org",)


def test_parser_reads_thread_index_header() -> None:
    """The Thread-Index header of a raw mail ends up as the message's conversation link."""
    raw = (
        b"From: a@example.org\r\nSubject: AW: Topic\r\nMessage-ID: <x@example.org>\r\n"
        b"Thread-Index: " + _index(1).encode() + b"\r\n\r\nbody\r\n"
    )
    assert parse_message(raw).links == (thread_index_id(_index(0)),)


def test_base_subject_strips_list_tags_and_nordic_prefixes() -> None:
    """List tags like [team] and SV:/Antw: prefixes go, in any mix and order."""
    assert base_subject("[team] AW: [team] SV: Antw: Budget") == "Budget"
    assert subject_key("Re:  BUDGET  2027") == subject_key("budget 2027")


def test_generic_subjects_are_recognised() -> None:
    """Subjects like 'Hallo', 'Question' and '(no subject)' count as generic."""
    for subject in ("Hallo", "Re: Question", "(no subject)", "", "AW: Frage?"):
        assert is_generic(subject_key(subject)), subject
    assert not is_generic(subject_key("Budget 2027"))


def test_subject_joining_is_off_by_default() -> None:
    """Without a window, same-subject mails without references stay separate threads."""
    groups = group_messages([_message("a@ex.org", "Budget"), _message("b@ex.org", "Re: Budget", days=1)], {})
    assert len(groups) == 2


def test_subject_joining_within_the_window() -> None:
    """With a window, a reference-less mail joins a same-subject thread whose last mail is recent."""
    first = _message("a@ex.org", "Budget")
    second = _message("b@ex.org", "AW: Budget", days=10)
    late = _message("c@ex.org", "Budget", days=50)
    groups = group_messages([late, second, first], {}, timedelta(days=30))
    assert _partition(groups) == {frozenset({"a@ex.org", "b@ex.org"}), frozenset({"c@ex.org"})}


def test_subject_joining_never_for_generic_subjects() -> None:
    """Two 'Hallo' mails a day apart stay two threads even with subject joining on."""
    groups = group_messages(
        [_message("a@ex.org", "Hallo"), _message("b@ex.org", "Hallo", days=1)], {}, timedelta(days=30)
    )
    assert len(groups) == 2


def test_subject_joining_with_a_published_thread() -> None:
    """A reference-less mail joins the published thread of its subject when that is recent enough."""
    known = {"budget": KnownSubject(thread_id=7, last_date=DAY)}
    recent = _message("b@ex.org", "Re: Budget", days=5)
    [group] = group_messages([recent], {}, timedelta(days=30), known)
    assert group.thread_id == 7
    [stale] = group_messages([_message("c@ex.org", "Budget", days=45)], {}, timedelta(days=30), known)
    assert stale.thread_id is None


def test_replies_never_join_by_subject() -> None:
    """A mail that references something is threaded by that, never moved by its subject."""
    known = {"budget": KnownSubject(thread_id=7, last_date=DAY)}
    reply = _message("r@ex.org", "Re: Budget", references=("elsewhere@ex.org",), days=1)
    [group] = group_messages([reply], {}, timedelta(days=30), known)
    assert group.thread_id is None
    assert subject_keys_of([reply]) == set()
