"""The `Mailbox` port's contract: what the bridge relies on of an IMAP account, held against
the fake (tests/fakes.py) and a real Dovecot through `ImapMailbox`.

Servers differ where the bridge must not rely on them: a STORE in a folder selected read-only is
ignored by Dovecot and refused by others, so that test accepts both.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bridge.errors import MailboxError
from tests.contract.backends import DovecotBackend, FakeMailboxBackend, MailboxBackend
from tests.integration.support import unique

WHEN = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture(params=["fake", "dovecot"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> MailboxBackend:
    """The fake account, or a real Dovecot account (its servers start only for this half)."""
    if request.param == "fake":
        return FakeMailboxBackend()
    return DovecotBackend(request.getfixturevalue("dovecot"), tmp_path, request.getfixturevalue("mediawiki"))


@pytest.fixture
def folder() -> str:
    """A folder name of this test alone (the real account is shared by the session)."""
    return unique("Contract")


def mail(header: bytes, body: bytes = b"Hello.\r\n") -> bytes:
    """A small mail with CRLF line ends; `header` is the Message-ID part, as written."""
    return b"From: a@example.org\r\nSubject: Contract\r\n" + header + b"\r\n" + body


def test_uids_ascend_and_uids_after_never_returns_the_highest_uid_again(
    backend: MailboxBackend, folder: str
) -> None:
    """`n:*` matches the highest UID even below n on a server; `uids_after` must not."""
    uids = [
        backend.deliver(folder, mail(f"Message-ID: <u{n}@example.org>\r\n".encode()), WHEN) for n in range(3)
    ]
    assert uids == sorted(uids)
    with backend.session() as imap:
        status = imap.select(folder)
        assert status.exists == 3
        assert status.uidnext > uids[-1]
        assert imap.uids_after(0) == uids
        assert imap.uids_after(uids[0]) == uids[1:]
        assert imap.uids_after(uids[-1]) == []
        assert imap.uids_after(uids[-1] + 100) == []


def test_an_empty_folder_has_no_uids(backend: MailboxBackend, folder: str) -> None:
    """A new folder: nothing after 0, nothing after any position."""
    backend.create_folder(folder)
    with backend.session() as imap:
        assert imap.select(folder).exists == 0
        assert imap.uids_after(0) == []
        assert imap.uids_after(7) == []
        assert imap.message_id_headers([]) == {}
        assert list(imap.fetch(folder, [])) == []


def test_selecting_a_missing_folder_fails(backend: MailboxBackend, folder: str) -> None:
    """A folder that does not exist is a `MailboxError`, not an empty folder."""
    with backend.session() as imap, pytest.raises(MailboxError):
        imap.select(folder)


def test_header_probes_return_the_message_id_lines_as_written_and_the_fetched_size(
    backend: MailboxBackend, folder: str
) -> None:
    """The probe's header block and RFC822.SIZE agree with the full fetch (duplicates are told by them)."""
    headers = {
        "plain": b"Message-ID: <plain@example.org>\r\n",
        "folded": b"Message-ID:\r\n <folded@example.org>\r\n",
        "twice": b"Message-ID: <one@example.org>\r\nmessage-id: <two@example.org>\r\n",
        "none": b"",
    }
    uids = {name: backend.deliver(folder, mail(header), WHEN) for name, header in headers.items()}
    with backend.session() as imap:
        imap.select(folder)
        probes = imap.message_id_headers([*uids.values(), max(uids.values()) + 50])
        fetched = {item.uid: item.raw for item in imap.fetch(folder, list(uids.values()))}
    assert set(probes) == set(uids.values())  # an absent UID is left out
    for name, header in headers.items():
        uid = uids[name]
        assert probes[uid].message_id_header == (header + b"\r\n").decode()
        assert probes[uid].size == len(fetched[uid])


def test_header_probes_carry_the_threading_fields_and_nothing_else(
    backend: MailboxBackend, folder: str
) -> None:
    """The probe's threading block has the id, reference, Thread-Index and date lines, folded as written,
    and no other field: a pass plans whole threads from it before any body is read."""
    header = (
        b"Message-ID: <child@example.org>\r\nIn-Reply-To: <parent@example.org>\r\n"
        b"References: <root@example.org>\r\n <parent@example.org>\r\nX-Spam: yes\r\n"
        b"Thread-Index: AQHZ\r\nDate: Wed, 4 Mar 2026 05:06:07 +0000\r\n"
    )
    uid = backend.deliver(folder, mail(header), WHEN)
    with backend.session() as imap:
        imap.select(folder)
        threading = imap.message_id_headers([uid])[uid].threading
    assert threading.endswith(b"\r\n\r\n")
    lines = threading.decode().split("\r\n")
    assert not any(line.startswith(("From:", "Subject:")) for line in lines)
    assert "Date: Wed, 4 Mar 2026 05:06:07 +0000" in lines
    assert "References: <root@example.org>" in lines and " <parent@example.org>" in lines
    assert {
        "Message-ID: <child@example.org>",
        "In-Reply-To: <parent@example.org>",
        "Thread-Index: AQHZ",
    } <= set(lines)
    assert not any(line.startswith("X-Spam") for line in lines)


def test_fetch_yields_existing_mail_ascending_as_delivered_without_marking_it_seen(
    backend: MailboxBackend, folder: str
) -> None:
    """Bodies come back byte for byte with their INTERNALDATE; reading leaves \\Seen unset."""
    raws = [mail(f"Message-ID: <f{n}@example.org>\r\n".encode(), f"Body {n}\r\n".encode()) for n in range(3)]
    uids = [backend.deliver(folder, raw, WHEN) for raw in raws]
    with backend.session() as imap:
        imap.select(folder)
        fetched = list(imap.fetch(folder, [uids[2], uids[0], uids[2] + 10]))
    assert [item.uid for item in fetched] == [uids[0], uids[2]]
    assert [item.raw for item in fetched] == [raws[0], raws[2]]
    assert {item.folder for item in fetched} == {folder}
    assert [item.internal_date for item in fetched] == [WHEN, WHEN]
    assert "\\Seen" not in backend.flags(folder, uids[0])


def test_keywords_are_set_and_cleared_in_a_writable_folder_only(backend: MailboxBackend, folder: str) -> None:
    """The quarantine and publish flags: set and cleared; unchanged in a folder selected read-only.

    Dovecot answers that STORE with OK and changes nothing; other servers answer NO.
    """
    uid = backend.deliver(folder, mail(b"Message-ID: <k@example.org>\r\n"), WHEN)
    with backend.session() as imap:
        imap.select(folder, writable=True)
        imap.add_flags([uid], ["$Quarantined", "$Published"])
        assert backend.flags(folder, uid) == {"$Quarantined", "$Published"}
        imap.remove_flags([uid], ["$Quarantined"])
        assert backend.flags(folder, uid) == {"$Published"}
        imap.select(folder)
        with contextlib.suppress(MailboxError):
            imap.add_flags([uid], ["$Other"])
    assert backend.flags(folder, uid) == {"$Published"}


def test_move_takes_mail_to_a_new_folder_under_new_uids_with_its_keywords(
    backend: MailboxBackend, folder: str
) -> None:
    """After-publish `move` and the quarantine folder: gone here, there byte for byte, flags kept."""
    raws = [mail(f"Message-ID: <m{n}@example.org>\r\n".encode()) for n in range(2)]
    uids = [backend.deliver(folder, raw, WHEN) for raw in raws]
    target = f"{folder}-archive"
    with backend.session() as imap:
        imap.select(folder, writable=True)
        imap.add_flags([uids[0]], ["$Published"])
        imap.move([uids[0]], target)
        assert imap.uids_after(0) == [uids[1]]
        assert list(imap.fetch(folder, [uids[0]])) == []
        imap.select(target)
        [moved] = imap.uids_after(0)
        assert [item.raw for item in imap.fetch(target, [moved])] == [raws[0]]
        assert imap.find_message("m0@example.org") == [moved]
    assert backend.flags(target, moved) == {"$Published"}


def test_find_message_searches_the_message_id_header_of_the_selected_folder(
    backend: MailboxBackend, folder: str
) -> None:
    """A quarantine release finds its mail by Message-ID (after a renumbering, or a move)."""
    first = backend.deliver(folder, mail(b"Message-ID: <Find-Me@Example.org>\r\n"), WHEN)
    backend.deliver(folder, mail(b"Message-ID: <other@example.org>\r\n"), WHEN)
    with backend.session() as imap:
        imap.select(folder)
        assert imap.find_message("Find-Me@Example.org") == [first]
        assert imap.find_message("find-me@example.org") == [first]  # SEARCH is case-insensitive
        assert imap.find_message("absent@example.org") == []


def test_uids_since_selects_by_internal_date_whatever_the_time_of_day(
    backend: MailboxBackend, folder: str
) -> None:
    """`start_date`: SEARCH SINCE compares the day of INTERNALDATE only."""
    days = [datetime(2026, 1, 31, 23, 0, tzinfo=UTC), datetime(2026, 2, 1, 0, 30, tzinfo=UTC), WHEN]
    uids = [
        backend.deliver(folder, mail(f"Message-ID: <d{n}@example.org>\r\n".encode()), day)
        for n, day in enumerate(days)
    ]
    with backend.session() as imap:
        imap.select(folder)
        assert imap.uids_since(date(2026, 2, 1)) == uids[1:]
        assert imap.uids_since(date(2027, 1, 1)) == []


def test_a_recreated_folder_has_a_new_uidvalidity_and_numbers_mail_afresh(
    backend: MailboxBackend, folder: str
) -> None:
    """The read position is only valid within one UIDVALIDITY epoch; the bridge detects a new one."""
    raws = [mail(f"Message-ID: <r{n}@example.org>\r\n".encode()) for n in range(3)]
    for raw in raws:
        backend.deliver(folder, raw, WHEN)
    with backend.session() as imap:
        before = imap.select(folder)
    backend.recreate(folder, raws[1:])
    with backend.session() as imap:
        after = imap.select(folder)
        fresh = imap.uids_after(0)
        assert [item.raw for item in imap.fetch(folder, fresh)] == raws[1:]
    assert after.uidvalidity != before.uidvalidity
    assert after.exists == 2
    assert fresh[0] <= before.uidnext - 1  # old positions would skip the renumbered mail


def test_bare_line_feeds_are_stored_as_crlf(backend: MailboxBackend, folder: str) -> None:
    """Mail appended with LF line ends is served with CRLF ones, and RFC822.SIZE counts them."""
    raw = mail(b"Message-ID: <lf@example.org>\r\n", b"Line one.\r\nLine two.\r\n")
    uid = backend.deliver(folder, raw.replace(b"\r\n", b"\n"), WHEN)
    with backend.session() as imap:
        imap.select(folder)
        probe = imap.message_id_headers([uid])[uid]
        [fetched] = imap.fetch(folder, [uid])
    assert fetched.raw == raw
    assert probe.size == len(raw)
    assert probe.message_id_header == "Message-ID: <lf@example.org>\r\n\r\n"
