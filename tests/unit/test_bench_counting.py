"""Counting IMAP commands and wiki API requests from proxied bytes (bench/counting.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bench import counting
from bench.counting import HttpTally, ImapTally, command_name, take_request
from tests.faultproxy import Moment


def test_command_names_of_tagged_lines_and_none_for_continuations() -> None:
    assert command_name(b"A001 LOGIN user pass") == "LOGIN"
    assert command_name(b"a7 uid fetch 1:5 (BODY.PEEK[])") == "UID FETCH"
    assert command_name(b"A3 EXAMINE INBOX") == "EXAMINE"
    assert command_name(b"DONE") is None
    assert command_name(b"") is None


def test_imap_commands_are_counted_across_chunks_and_literals_are_skipped() -> None:
    tally = ImapTally()
    # A literal that looks like commands must not count; a line split over two chunks counts once.
    tally(1, Moment.REQUEST, b"A1 LOGIN {4}\r\n")
    tally(1, Moment.REQUEST, b"user {12}\r\nA9 FETCH 1\r\n\r\nA2 SEL")
    tally(1, Moment.REQUEST, b"ECT INBOX\r\nA3 IDLE\r\nDONE\r\n")
    tally(2, Moment.REQUEST, b"B1 UID FETCH 1 BODY.PEEK[]\r\n")
    answer = b"* 1 FETCH (UID 1 BODY[] {12}\r\nB1 OK fake\r\n)\r\nB1 OK Fetch completed.\r\n"
    tally(2, Moment.ANSWER, answer[:20])
    assert tally.seconds == 0.0  # the tagged answer has not come yet (the literal is no answer)
    tally(2, Moment.ANSWER, answer[20:])
    assert dict(tally.commands) == {"LOGIN": 1, "SELECT": 1, "IDLE": 1, "UID FETCH": 1}
    assert tally.connections == 2
    assert tally.bytes_from_server == len(answer)
    assert tally.seconds > 0.0


def test_http_requests_are_read_whole_with_their_api_action() -> None:
    get = b"GET /api.php?action=query&meta=tokens&format=json HTTP/1.1\r\nHost: x\r\n\r\n"
    form = b"action=edit&title=A&text=x"
    post = (
        b"POST /api.php HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {len(form)}\r\n\r\n".encode()
        + form
    )
    assert take_request(get) == ("query", b"")
    assert take_request(post[:-3]) is None
    assert take_request(post + get) == ("edit", get)


def test_multipart_uploads_and_chunked_bodies_are_counted() -> None:
    body = (
        b'--b\r\nContent-Disposition: form-data; name="action"\r\n\r\nupload\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\nDATA\r\n--b--\r\n'
    )
    upload = (
        b"POST /api.php HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    chunked = b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    tally = HttpTally()
    tally(1, Moment.REQUEST, upload[:40])
    tally(1, Moment.REQUEST, upload[40:])
    tally(1, Moment.ANSWER, b"HTTP/1.1 200 OK\r\n\r\n{}")
    tally(2, Moment.REQUEST, chunked)
    assert dict(tally.actions) == {"upload": 1, "-": 1}
    assert tally.requests == 2
    assert set(tally.seconds()) == {"upload", "-"}


def test_the_servers_new_mail_notices_are_timed_but_not_inside_literals() -> None:
    """`* n EXISTS` (the IDLE notice) is noted with its time; the same bytes inside a mail are not."""
    tally = ImapTally()
    tally(1, Moment.REQUEST, b"A1 IDLE\r\n")
    tally(1, Moment.ANSWER, b"+ idling\r\n")
    assert tally.exists_at == []
    tally(1, Moment.ANSWER, b"* 7 EXISTS\r\n* 1 RECENT\r\n")
    assert len(tally.exists_at) == 1
    tally(2, Moment.ANSWER, b"* 1 FETCH (BODY[] {12}\r\n* 9 EXISTS\r\n)\r\n")
    assert len(tally.exists_at) == 1


def test_a_request_waiting_behind_another_counts_only_from_the_answer_before_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The wiki serves one request at a time: overlapping requests add up to the wall time they
    kept it busy, not to the sum of their waits."""
    clock = iter([0.0, 1.0, 2.0, 3.0, 4.0, 4.5])
    monkeypatch.setattr(counting, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    edit = b"GET /api.php?action=edit HTTP/1.1\r\n\r\n"
    upload = b"GET /api.php?action=upload HTTP/1.1\r\n\r\n"
    query = b"GET /api.php?action=query HTTP/1.1\r\n\r\n"
    tally = HttpTally()
    tally(1, Moment.REQUEST, edit)  # 0.0
    tally(2, Moment.REQUEST, upload)  # 1.0: waits behind the edit
    tally(1, Moment.ANSWER, b"HTTP/1.1 200 OK\r\n\r\n{}")  # 2.0
    tally(2, Moment.ANSWER, b"HTTP/1.1 200 OK\r\n\r\n{}")  # 3.0
    tally(1, Moment.REQUEST, query)  # 4.0
    tally(1, Moment.ANSWER, b"HTTP/1.1 200 OK\r\n\r\n{}")  # 4.5
    assert tally.seconds() == {"edit": 2.0, "upload": 1.0, "query": 0.5}
