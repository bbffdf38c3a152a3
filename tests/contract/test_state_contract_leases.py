"""The state store contract, continued: mailbox leases, heartbeats, the fence on a pass's writes and
the fair share the instances keep, for every backend in `BACKENDS`.

A lease of a negative period is expired from the start: expiry is shown without waiting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from bridge.adapters.state.ports import StateStore
from bridge.adapters.state.statuses import ReplyKind, ReplyStatus
from bridge.adapters.state.store import Lease, PostgresStateStore
from bridge.core.model import FolderPosition
from bridge.core.retry import RetryPolicy
from bridge.errors import LeaseLostError
from bridge.service.config import StateSettings
from bridge.service.leasing import LeaseKeeper, fair_share
from bridge.sync.lanes import Lanes
from tests.contract.state_backends import intent, published, store

__all__ = ["store"]  # the parametrized fixture, used by every test here

EXPIRED = -1.0
MAILBOXES = [f"mb{n}" for n in range(6)]


def _taken(store: StateStore, mailbox: str, holder: str, seconds: float = 30.0) -> Lease:
    lease = store.acquire_lease(mailbox, holder, seconds)
    assert lease is not None
    return lease


# -- leases ----------------------------------------------------------------------------------


def test_a_valid_lease_keeps_others_out_and_tokens_only_grow(store: StateStore) -> None:
    """The first holder gets token 1, others nothing while it is valid; each change of holder counts up."""
    first = _taken(store, "mb", "a")
    assert (first.mailbox, first.holder, first.token) == ("mb", "a", 1)
    assert first.expires_at > first.since
    assert store.acquire_lease("mb", "b", 30) is None
    store.release_lease(first)
    second = _taken(store, "mb", "b")
    assert second.token == 2
    assert store.acquire_lease("other", "b", 30) is not None  # leases are per mailbox
    again = _taken(store, "mb", "b")  # the same holder, restarted: taken back at once, newer token
    assert again.token == 3
    assert store.renew_lease(second) is None


def test_an_expired_lease_is_taken_over_and_its_holder_cannot_renew(store: StateStore) -> None:
    """After expiry another instance takes the lease; the old holder's renewal then fails."""
    old = _taken(store, "mb", "a", EXPIRED)
    new = _taken(store, "mb", "b")
    assert new.token == old.token + 1
    assert store.renew_lease(old) is None
    renewed = store.renew_lease(new)
    assert renewed is not None and renewed.token == new.token and renewed.expires_at >= new.expires_at


def test_an_expired_lease_nobody_took_is_renewed_by_its_holder(store: StateStore) -> None:
    """Renewal of an expired lease nobody took keeps its token (nobody else wrote meanwhile)."""
    old = _taken(store, "mb", "a", EXPIRED)
    renewed = store.renew_lease(dataclasses.replace(old, seconds=30))
    assert renewed is not None and renewed.token == old.token
    with store.fenced(renewed):
        store.save_folder_position("mb", "INBOX", FolderPosition(1, 5))
    assert store.folder_position("mb", "INBOX") == FolderPosition(1, 5)


def test_leases_are_listed_with_holder_and_validity(store: StateStore) -> None:
    """`status` sees each mailbox's holder, token, since and whether the lease is still valid."""
    held = _taken(store, "mb1", "a")
    _taken(store, "mb2", "b", EXPIRED)
    store.release_lease(_taken(store, "mb3", "c"))
    rows = {row.mailbox: row for row in store.leases()}
    assert (rows["mb1"].holder, rows["mb1"].token, rows["mb1"].valid) == ("a", 1, True)
    assert rows["mb1"].since == pytest.approx(held.since)
    assert (rows["mb2"].holder, rows["mb2"].valid) == ("b", False)
    assert (rows["mb3"].holder, rows["mb3"].since, rows["mb3"].valid) == (None, None, False)


# -- the fence -------------------------------------------------------------------------------


def _writes(store: StateStore) -> list[tuple[str, Callable[[], object]]]:
    """One write of each step a pass makes: intent, confirm, position, failure, reply to sending."""
    thread = store.new_thread("mb", "T/f")
    store.record_intent("mb", thread, [intent("pending@x")])
    replied = published(store, "mb", "T/r", "r@x")
    store.record_reply("mb", "r@x", "p@example.org", ReplyKind.LINK, replied, None, b"bytes")
    return [
        ("intent", lambda: store.record_intent("mb", thread, [intent("new@x", uid=2)])),
        ("confirm", lambda: store.confirm("mb", thread, "T/f", ["pending@x"], revision=7, mail_action=True)),
        ("position", lambda: store.save_folder_position("mb", "INBOX", FolderPosition(1, 99))),
        (
            "sending",
            lambda: store.set_reply_status("mb", "r@x", "p@example.org", ReplyKind.LINK, ReplyStatus.SENDING),
        ),
        ("pass", lambda: store.record_pass("mb", None, 0)),
    ]


def test_a_holder_that_lost_its_lease_writes_nothing(store: StateStore) -> None:
    """Once another instance took the mailbox, every write of the old holder's pass is refused."""
    writes = _writes(store)
    old = _taken(store, "mb", "a", EXPIRED)
    _taken(store, "mb", "b")
    for _, write in writes:
        with (
            store.fenced(old),
            pytest.raises(LeaseLostError, match="no longer holds the lease of mailbox mb"),
        ):
            write()
    assert [p.message_id for p in store.pending_messages("mb")] == ["pending@x"]
    assert store.folder_position("mb", "INBOX") is None
    assert [r.status for r in store.open_replies("mb")] == [ReplyStatus.INTENDED]
    assert store.pending_mail_actions("mb", "INBOX") == []
    assert store.mailbox_status("mb").last_success is None


def test_an_expired_lease_refuses_writes_until_renewed(store: StateStore) -> None:
    """A holder paused past its lease writes nothing, even before anyone took the mailbox."""
    _writes(store)
    paused = _taken(store, "mb", "a", EXPIRED)
    with store.fenced(paused), pytest.raises(LeaseLostError):
        store.save_folder_position("mb", "INBOX", FolderPosition(1, 5))
    assert store.folder_position("mb", "INBOX") is None


def test_the_holder_writes_and_each_write_extends_its_lease(store: StateStore) -> None:
    """With the lease held, every step goes through, and the lease runs from the last write."""
    writes = _writes(store)
    lease = _taken(store, "mb", "a")
    for _, write in writes:
        with store.fenced(lease):
            write()
    [row] = [row for row in store.leases() if row.mailbox == "mb"]
    assert row.valid and row.expires_at >= lease.expires_at and row.token == lease.token
    assert [p.message_id for p in store.pending_messages("mb")] == ["new@x"]
    assert store.folder_position("mb", "INBOX") == FolderPosition(1, 99)
    assert store.pending_mail_actions("mb", "INBOX") == [1]
    # Outside the block (another thread, a command) writes are not fenced.
    assert store.record_failure("mb", "INBOX", 1, 3, None, "unreadable", RetryPolicy()) == 1


def test_the_fence_covers_only_the_mailbox_and_thread_it_was_set_for(store: StateStore) -> None:
    """Fenced by a lost lease, the pass's thread is refused; writes outside the block go on."""
    old = _taken(store, "mb", "a", EXPIRED)
    _taken(store, "mb", "b")
    with store.fenced(old), pytest.raises(LeaseLostError):
        store.new_thread("mb", "T/x")
    store.save_folder_position("mb", "INBOX", FolderPosition(1, 3))
    assert store.folder_position("mb", "INBOX") == FolderPosition(1, 3)


def test_the_fence_follows_the_pass_into_its_edit_lanes(store: StateStore) -> None:
    """With `[wiki] concurrency`, a pass's edits run on lane threads: their writes are fenced too."""
    thread = store.new_thread("mb", "T/lane")
    old = _taken(store, "mb", "a", EXPIRED)
    _taken(store, "mb", "b")
    with store.fenced(old), pytest.raises(LeaseLostError), Lanes(2) as lanes:
        lanes.submit(
            frozenset({"page"}), lambda: store.record_intent("mb", thread, [intent("lane@x")]), lambda _: None
        )
    assert store.pending_messages("mb") == []
    held = _taken(store, "other", "a")
    with store.fenced(held), Lanes(2) as lanes:
        lanes.submit(frozenset({"page"}), lambda: store.new_thread("other", "T/ok"), lambda _: None)
    assert [row.valid for row in store.leases() if row.mailbox == "other"] == [True]


# -- heartbeats and the fair share -----------------------------------------------------------


def test_heartbeats_count_the_live_instances(store: StateStore) -> None:
    """An instance is live while its heartbeat is valid, and gone once it leaves or expires."""
    assert store.heartbeat("a", 30) == 1
    assert store.heartbeat("b", 30) == 2
    assert store.heartbeat("dead", EXPIRED) == 2
    store.leave("b")
    assert store.heartbeat("a", 30) == 1


def test_fair_share_is_the_ceiling() -> None:
    """Six mailboxes: all for one instance, three each for two, two each for three, one each for six."""
    assert [fair_share(6, live) for live in (0, 1, 2, 3, 4, 6, 7)] == [6, 6, 3, 2, 2, 1, 1]


def test_instances_share_the_mailboxes_fairly(store: StateStore) -> None:
    """A lone instance takes all; a second one coming up gets half once the first gives idle ones up."""
    a, b = LeaseKeeper(store, "a", 30), LeaseKeeper(store, "b", 30)
    assert sorted(a.tick(MAILBOXES).gained) == MAILBOXES
    assert b.tick(MAILBOXES).gained == []  # live 2, share 3, nothing free yet
    with a.busy("mb0"):
        change = a.tick(MAILBOXES)
    assert len(change.released) == 3 and "mb0" not in change.released  # a busy mailbox is kept
    assert sorted(b.tick(MAILBOXES).gained) == sorted(change.released)
    assert len(a.held()) == len(b.held()) == 3
    assert not a.tick(MAILBOXES) and not b.tick(MAILBOXES)  # balanced: nothing moves
    holders = {row.mailbox: row.holder for row in store.leases()}
    assert sorted(str(holder) for holder in holders.values()) == ["a"] * 3 + ["b"] * 3


def test_a_dead_instances_mailboxes_are_taken_over_and_it_learns_so(store: StateStore) -> None:
    """An instance whose heartbeat and leases expired loses them to the next tick of the survivor."""
    dead, survivor = LeaseKeeper(store, "dead", EXPIRED), LeaseKeeper(store, "survivor", 30)
    assert len(dead.tick(MAILBOXES).gained) == 6
    assert sorted(survivor.tick(MAILBOXES).gained) == MAILBOXES  # live 1: the share is all
    woken = dead.tick(MAILBOXES)
    assert sorted(woken.lost) == MAILBOXES and woken.gained == [] and dead.held() == {}
    assert {row.holder for row in store.leases()} == {"survivor"}
    assert {row.token for row in store.leases()} == {2}


def test_a_clean_stop_hands_the_mailboxes_over_at_once(store: StateStore) -> None:
    """Released leases and a removed heartbeat: the other instance takes everything on its next tick."""
    a, b = LeaseKeeper(store, "a", 30), LeaseKeeper(store, "b", 30)
    a.tick(MAILBOXES)
    b.tick(MAILBOXES)
    a.stop()
    assert sorted(b.tick(MAILBOXES).gained) == MAILBOXES
    assert b.live == 1


def test_a_mailbox_removed_from_the_config_is_given_up(store: StateStore) -> None:
    """After a reload without a mailbox, its lease is released for whoever still has it configured."""
    keeper = LeaseKeeper(store, "a", 30)
    keeper.tick(MAILBOXES)
    change = keeper.tick(MAILBOXES[1:])
    assert change.released == ["mb0"] and "mb0" not in keeper.held()
    assert _taken(store, "mb0", "b").token == 2


def test_lease_times_are_the_databases_clock(store: StateStore) -> None:
    """Since and expiry are Unix seconds of the database's clock (here the same host's)."""
    lease = _taken(store, "mb", "a", 30)
    now = datetime.now(UTC).timestamp()
    assert abs(lease.since - now) < 60 and lease.expires_at - lease.since == pytest.approx(30, abs=1)


def test_a_paused_instances_transaction_cannot_hold_rows_for_long(postgres_state: StateSettings) -> None:
    """PostgreSQL ends a session idle inside a transaction after a few seconds: a paused instance
    cannot keep its lease row locked against the instance taking over."""
    store = PostgresStateStore(postgres_state)
    try:
        assert store._query("SHOW idle_in_transaction_session_timeout") == [("5s",)]
    finally:
        store.close()
