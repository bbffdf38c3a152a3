"""The planner is pure: given what a pass read, it returns the plan, and nothing else happens.

Each test hands the planner inputs a reader would have gathered (header ids and sizes, stored
fingerprints, parsed mail, known threads and pages, quarantine statuses, settings) and checks
the actions it returns, and that `describe` and `as_json` say them.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from bridge.adapters.state.statuses import QuarantineStatus
from bridge.adapters.state.store import Fingerprint
from bridge.core.model import AutomationHeaders, Message
from bridge.core.senders import Refusal
from bridge.core.threads import ThreadGroup
from bridge.core.variants import variant_id
from bridge.service.config import MailboxSettings
from bridge.sync.actions import (
    Action,
    MailAction,
    MergeNote,
    PublishGroup,
    Quarantine,
    RecordFailure,
    Reply,
    Skip,
    SkipWhy,
    Source,
    as_json,
    describe,
)
from bridge.sync.planner import (
    Batch,
    PlanSettings,
    plan_groups,
    plan_identities,
    plan_known_copies,
    plan_mail_action,
    plan_policy,
    variant_candidates,
)
from tests.settings import mailbox_settings

TEAM = "team@example.org"


def settings(**changes: object) -> MailboxSettings:
    """A mapping's settings with `changes` (flat config keys)."""
    return mailbox_settings(**changes)


def message(
    message_id: str, subject: str = "Angebot", sender: str = "anna@example.org", *refs: str
) -> Message:
    """A parsed mail."""
    return Message(
        message_id=message_id,
        references=refs,
        subject=subject,
        sender_name="Anna",
        sender_address=sender,
        date=datetime(2024, 3, 4, 9, 0, tzinfo=UTC),
        body_text="Hallo",
        automation=AutomationHeaders(return_path=sender),
    )


def source(uid: int, digest: str = "hash", folder: str = "INBOX") -> Source:
    """Where a mail was read."""
    return Source(folder, uid, 7, raw_size=100, content_hash=digest)


def batch(*pairs: tuple[Message, Source]) -> Batch:
    """A batch of parsed mail."""
    return Batch({m.message_id: m for m, _ in pairs}, {m.message_id: s for m, s in pairs})


def test_copies_of_published_mail_are_skipped_without_reading_them() -> None:
    """Same id and size as published mail: skipped; another size, held mail or a new id: fetched."""
    known = {
        "a@x": Fingerprint("h", 100),
        "b@x": Fingerprint("h", 100),
        "c@x": Fingerprint("h", 100, held=True),
    }
    first_ids = {1: "a@x", 2: "b@x", 3: "c@x", 4: "d@x", 5: None, 6: "a@x"}
    sizes = {1: 100, 2: 999, 3: 100, 4: 100, 5: 100, 6: 100}

    to_fetch, skips = plan_known_copies(
        "INBOX", 7, [1, 2, 3, 4, 5, 6], first_ids, sizes, known, relocate=True
    )

    assert to_fetch == [2, 3, 4, 5]
    assert skips == [
        Skip(Source("INBOX", 1, 7), "a@x", SkipWhy.KNOWN_COPY, relocate=False),
        Skip(Source("INBOX", 6, 7), "a@x", SkipWhy.KNOWN_COPY, relocate=True),
    ]


def test_same_content_is_a_duplicate_and_other_content_a_variant() -> None:
    """A second copy in the batch is skipped; other content under a known id gets a variant id."""
    original = message("a@x")
    other = dataclasses.replace(original, body_text="Anders")
    parsed = [(original, source(1, "h1")), (original, source(2, "h1")), (other, source(3, "h2"))]

    planned, skips = plan_identities(parsed, {}, set())

    variant = variant_id("a@x", "h2")
    assert list(planned.messages) == ["a@x", variant]
    assert planned.sources[variant].variant_of == "a@x"
    assert skips == [Skip(source(2, "h1"), "a@x", SkipWhy.SAME_CONTENT)]


def test_known_variants_are_skipped_and_held_mail_goes_back_to_the_policy() -> None:
    """A variant published before is skipped; a copy of held mail is planned again (for the policy)."""
    known = message("k@x")
    held = message("h@x")
    parsed = [(known, source(1, "new")), (held, source(2, "same"))]
    stored = {"k@x": Fingerprint("old", 100), "h@x": Fingerprint("same", 100, held=True)}
    variants = set(variant_candidates(parsed)) & {variant_id("k@x", "new")}

    planned, skips = plan_identities(parsed, stored, variants)

    assert list(planned.messages) == ["h@x"]
    assert [(s.message_id, s.why) for s in skips] == [(variant_id("k@x", "new"), SkipWhy.KNOWN_VARIANT)]


@pytest.mark.parametrize(
    ("mode", "verb", "target"), [("flag", "flag", "$WikiQuarantine"), ("move", "move", "Quarantine")]
)
def test_refused_senders_are_quarantined_and_told_why(mode: str, verb: str, target: str) -> None:
    """Mail from outside allowed_senders is quarantined (flag or move) and, where set up, answered."""
    stranger = message("s@x", "Gewinnspiel", "promo@lottery.example")
    colleague = message("c@x")
    mapping = settings(allowed_senders=("*@example.org",), quarantine=mode, reply_unpublished=True)

    kept, actions = plan_policy(
        batch((stranger, source(1)), (colleague, source(2))), {}, PlanSettings(mapping, can_mail=True)
    )

    assert list(kept.messages) == ["c@x"]
    refusal = Refusal("not_allowed", "the sender promo@lottery.example is not in allowed_senders")
    assert actions == [
        Quarantine(source(1), stranger, refusal, verb, target),  # type: ignore[arg-type]
        Reply("refusal", stranger, "promo@lottery.example", None, refusal),
    ]


def test_released_mail_passes_and_a_failing_check_fails_that_mail_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Released mail is not checked again; a check that raises records that mail as failed."""
    released = message("r@x", sender="promo@lottery.example")
    broken = message("b@x")

    def check(mail: Message, *_args: object) -> Refusal | None:
        if mail.message_id == "b@x":
            raise ValueError("boom")
        return None

    monkeypatch.setattr("bridge.sync.planner.policy_refusal", check)
    mapping = settings(allowed_senders=("*@example.org",))

    kept, actions = plan_policy(
        batch((released, source(1)), (broken, source(2))),
        {"r@x": QuarantineStatus.RELEASED},
        PlanSettings(mapping),
    )

    assert list(kept.messages) == ["r@x"]
    [failure] = actions
    assert isinstance(failure, RecordFailure) and failure.source == source(2)
    assert "checking the sender failed unexpectedly (ValueError: boom)" in failure.reason


def test_no_policy_no_quarantine() -> None:
    """Without a sender policy every mail is kept and nothing is planned for it."""
    stranger = message("s@x", sender="promo@lottery.example")
    kept, actions = plan_policy(batch((stranger, source(1))), {}, PlanSettings(settings()))
    assert list(kept.messages) == ["s@x"] and actions == []


def test_groups_go_to_known_pages_or_new_titles_with_their_link_replies() -> None:
    """A reply to a known thread is appended to its page; a new conversation gets a new title."""
    answer = message("a2@x", "AW: Angebot", "bob@example.org", "a1@x")
    fresh = message("n@x", "Neue Frage")
    loop = dataclasses.replace(fresh, message_id="m@x", sender_address=TEAM, references=("n@x",))
    planned = batch((answer, source(1)), (fresh, source(2)), (loop, source(3)))
    context = PlanSettings(
        settings(reply="every", address=TEAM), can_mail=True, own_addresses=frozenset({TEAM})
    )

    actions = plan_groups(planned, {"a1@x": 5}, {5: "Mail/Team/Angebot"}, context)

    assert [(a.page, a.new_title) for a in actions if isinstance(a, PublishGroup)] == [
        ("Mail/Team/Angebot", "Mail/Team/Angebot"),
        (None, "Mail/Team/Neue Frage"),
    ]
    first, second = actions
    assert isinstance(first, PublishGroup) and isinstance(second, PublishGroup)
    assert first.group == ThreadGroup((answer,), 5) and first.sources == (source(1),)
    assert [(r.recipient, r.forbidden is None) for r in first.replies] == [("bob@example.org", True)]
    assert sorted((r.recipient, r.forbidden is None) for r in second.replies) == [
        ("anna@example.org", True),
        (TEAM, False),
    ]


def test_no_link_replies_without_smtp_or_with_reply_never() -> None:
    """Link replies are planned only where mail can be sent and `reply` is not `never`."""
    planned = batch((message("n@x"), source(1)))
    for context in (
        PlanSettings(settings(reply="every", address=TEAM)),
        PlanSettings(settings(), can_mail=True),
    ):
        [publish] = plan_groups(planned, {}, {}, context)
        assert isinstance(publish, PublishGroup) and publish.replies == ()


def test_a_mail_joining_two_threads_gets_a_merge_note() -> None:
    """Mail referencing two published threads goes to the older one; the newer one's page gets a note."""
    joining = message("j@x", "Re: beides", "anna@example.org", "t1@x", "t2@x")

    actions = plan_groups(
        batch((joining, source(1))), {"t1@x": 3, "t2@x": 8}, {3: "P3", 8: "P8"}, PlanSettings(settings())
    )

    assert [type(a) for a in actions] == [PublishGroup, MergeNote]
    assert actions[1] == MergeNote((8,), 3)


def test_mail_actions_cover_pending_and_planned_mail() -> None:
    """Published mail and mail pending from before are flagged or moved; `keep` plans nothing."""
    publish = PublishGroup(ThreadGroup((message("n@x"),), None), (source(4),), None, "T")
    assert plan_mail_action(settings(), "INBOX", [1], [publish]) is None
    assert plan_mail_action(settings(after_publish="flag"), "INBOX", [1], [publish]) == MailAction(
        "INBOX", "flag", "$Wiki", (1, 4)
    )
    assert plan_mail_action(settings(after_publish="move"), "INBOX", [], [publish]) == MailAction(
        "INBOX", "move", "Archive/Wiki", (4,)
    )
    assert plan_mail_action(settings(after_publish="move"), "INBOX", [], []) is None


def test_every_action_is_described_and_serialized() -> None:
    """Each kind of action has a sentence and a JSON object naming its kind."""
    mail = message("n@x")
    refusal = Refusal("no_address", "the mail has no sender address")
    reply = Reply("link", mail, "anna@example.org")
    actions: list[Action] = [
        Skip(source(1), "n@x", SkipWhy.SAME_CONTENT),
        RecordFailure(source(2), None, "reading the mail failed"),
        Quarantine(source(3), mail, refusal, "move", "Quarantine"),
        Reply("refusal", mail, "anna@example.org", "an automatic reply", refusal),
        PublishGroup(ThreadGroup((mail,), None), (source(4),), None, "Mail/Team/Angebot", (reply,)),
        PublishGroup(ThreadGroup((mail,), 3), (source(4),), "Mail/Team/Alt", "Mail/Team/Angebot"),
        MergeNote((8,), 3),
        MailAction("INBOX", "flag", "$Wiki", (4,)),
    ]
    kinds = [as_json(a)["action"] for a in actions]
    assert kinds == ["skip", "failure", "quarantine", "reply", "publish", "publish", "merge_note", "mail"]
    json.dumps([as_json(a) for a in actions])
    lines = [line for a in actions for line in describe(a)]
    assert "create page 'Mail/Team/Angebot' with 1 message(s)" in lines
    assert "send reply to anna@example.org: link for <n@x>" in lines
    assert "append 1 message(s) to 'Mail/Team/Alt'" in lines
    assert "quarantine uid 3 in 'INBOX' (move to 'Quarantine'): the mail has no sender address" in lines
    assert "not reply to anna@example.org (refusal): an automatic reply" in lines
