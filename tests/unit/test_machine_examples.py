"""Shrunk examples found by the stateful model test (tests/unit/test_state_machine.py), kept as tests.

Each replays the machine's steps by hand and ends with its settling check (`teardown`).
"""

from __future__ import annotations

import dataclasses

from bridge.adapters.state.statuses import QuarantineStatus
from tests.unit.test_state_machine import NAME, BridgeMachine
from tests.unit.test_sync_properties import Conversation, Mail


def test_a_mail_released_after_its_folder_was_renumbered_is_published() -> None:
    """The first bug the machine found, kept as its shrunk example.

    m2 (of the refused sender) is quarantined, the server renumbers INBOX, a pass reads it again
    (still quarantined), then it is released. The release used to record the old UID under the
    new UIDVALIDITY, so the next pass read whichever mail now has that UID (here m0, a known
    duplicate) and m2 was never published.
    """
    machine = BridgeMachine()
    root = Mail(0, (), "chain", "Meeting", 1, "")
    pool = Conversation(
        (root, Mail(1, (0,), "parent", "Meeting", 2, ""), Mail(2, (0,), "parent", "Meeting", 3, ""))
    )
    machine.start(pool, "every", 50)
    machine.arrive(pool.mails[2], "INBOX")
    machine.arrive(root, "INBOX")
    machine.run_pass()
    box = machine.mailbox.folders["INBOX"]
    machine.mailbox.renumber("INBOX", box.uidvalidity + 1, list(reversed(box.mails.values())))
    machine.run_pass()
    [entry] = machine.state.quarantined(NAME, status=QuarantineStatus.QUARANTINED)
    machine.release_entry(entry)
    machine.teardown()  # settles and checks that every delivered mail is published once


def test_other_content_under_a_quarantined_id_is_published_on_release() -> None:
    """Found while writing the machine: other content under a quarantined Message-ID is held as a
    variant of its own (the quarantine knows the content of what it holds), so releasing the first
    leaves the second listed, and releasing both publishes both.
    """
    machine = BridgeMachine()
    root, held = Mail(0, (), "chain", "Meeting", 1, ""), Mail(2, (0,), "parent", "Meeting", 3, "")
    machine.start(Conversation((root, Mail(1, (0,), "parent", "Meeting", 2, ""), held)), "every", 50)
    machine.arrive(held, "INBOX")
    machine.run_pass()
    other = dataclasses.replace(held, body="Korrektur!!!!!")
    machine.arrive_changed(other, "INBOX")
    machine.run_pass()
    first, variant = sorted(
        machine.state.quarantined(NAME, status=QuarantineStatus.QUARANTINED), key=lambda e: e.uid
    )
    assert variant.message_id != first.message_id
    machine.release_entry(first)
    machine.run_pass()
    assert [e.message_id for e in machine.state.quarantined(NAME, status=QuarantineStatus.QUARANTINED)] == [
        variant.message_id
    ]
    machine.release_entry(variant)
    machine.teardown()  # settles and checks that both contents are published
