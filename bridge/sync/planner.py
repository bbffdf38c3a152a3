"""The planner: pure functions turning what a pass read into its plan (see `bridge.sync.actions`).

Nothing here does I/O: the reader hands in what the mailbox and the state store said (header
ids and sizes, known fingerprints, parsed mail and parse failures, known threads, pages and
subjects, quarantine statuses), the settings decide the rest. The same inputs give the same plan,
which the executor carries out, or `once --dry-run` prints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from bridge.adapters.state.statuses import QuarantineStatus
from bridge.adapters.state.store import Fingerprint
from bridge.core.model import Message
from bridge.core.people import EXTERNAL_SENDER, Insiders
from bridge.core.render.titles import page_title
from bridge.core.replies import loop_reason
from bridge.core.senders import Refusal, policy_refusal
from bridge.core.threads import KnownSubject, ThreadGroup, group_messages
from bridge.core.variants import as_variant, variant_id
from bridge.errors import MessageError
from bridge.service.config import MailboxSettings
from bridge.sync.actions import (
    Action,
    MailAction,
    MergeNote,
    PublishGroup,
    Quarantine,
    RecordFailure,
    Reply,
    ReplyKind,
    Skip,
    SkipWhy,
    Source,
)


@dataclass(frozen=True, slots=True)
class PlanSettings:
    """What the planner knows of a mapping: its settings, whether mail can be sent, our addresses."""

    mailbox: MailboxSettings
    can_mail: bool = False
    own_addresses: frozenset[str] = frozenset()
    # Who is inside the company; None treats every sender as inside (no organisation known).
    insiders: Insiders | None = None

    @property
    def link_replies(self) -> bool:
        """Whether published mail gets a link reply."""
        return self.can_mail and self.mailbox.replies.reply != "never"

    @property
    def refusal_replies(self) -> bool:
        """Whether quarantined mail gets a reply saying why."""
        return self.can_mail and self.mailbox.replies.reply_unpublished


@dataclass
class Batch:
    """The publishable mails of one batch, by Message-ID, with where each was read."""

    messages: dict[str, Message] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)


def describe_failure(stage: str, exc: BaseException) -> str:
    """A reason a person can act on: the stage, and the error's own sentence or its kind and text."""
    if isinstance(exc, MessageError):
        return str(exc)
    detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else "no detail given"
    return f"{stage} failed unexpectedly ({type(exc).__name__}: {detail}); this is a bug of the bridge"


def plan_known_copies(
    folder: str,
    uidvalidity: int,
    uids: Sequence[int],
    first_ids: Mapping[int, str | None],
    sizes: Mapping[int, int],
    known: Mapping[str, Fingerprint],
    relocate: bool,
) -> tuple[list[int], list[Skip]]:
    """Split a batch's UIDs (in order) into those to fetch and copies of published mail to skip.

    A copy of the same bytes (a rescan, a second folder) is known without reading it; other
    bytes under a known id are read to tell a copy from other content. With `relocate`, pending
    flags and moves follow their mail to its new UID (after a renumbering).
    """
    to_fetch: list[int] = []
    skips: list[Skip] = []
    last_uid: dict[str, int] = {}
    for uid in uids:
        message_id = first_ids.get(uid)
        fingerprint = known.get(message_id) if message_id else None
        if message_id and fingerprint and not fingerprint.held and fingerprint.raw_size in (None, sizes[uid]):
            skips.append(Skip(Source(folder, uid, uidvalidity), message_id, SkipWhy.KNOWN_COPY))
            last_uid[message_id] = uid
        else:
            to_fetch.append(uid)
    if relocate:
        # Pending flags and moves follow the last copy seen of their mail.
        skips = [
            dataclasses.replace(s, relocate=True) if last_uid[s.message_id] == s.source.uid else s
            for s in skips
        ]
    return to_fetch, skips


def variant_candidates(parsed: Sequence[tuple[Message, Source]]) -> list[str]:
    """The ids parsed mail would have as variants: the reader asks which of them are known."""
    return [variant_id(message.message_id, source.content_hash or "") for message, source in parsed]


def plan_identities(
    parsed: Sequence[tuple[Message, Source]],
    stored: Mapping[str, Fingerprint],
    known_variants: set[str],
) -> tuple[Batch, list[Skip]]:
    """Drop true duplicates; give other content under a known (or repeated) id a variant id."""
    batch = Batch()
    copies: list[Skip] = []
    for message, source in parsed:
        digest = source.content_hash or ""
        earlier = stored.get(message.message_id)
        in_batch = batch.sources.get(message.message_id)
        same = (earlier is not None and earlier.content_hash in (None, digest)) or (
            in_batch is not None and in_batch.content_hash == digest
        )
        if same and in_batch is None and earlier is not None and earlier.held:
            # Held mail read again (a copy, a renumbered folder) goes back to the sender policy,
            # which flags or moves this copy too.
            same = False
        elif not same and (earlier is not None or in_batch is not None):
            original = message.message_id
            message = as_variant(message, digest)
            source = dataclasses.replace(source, variant_of=original)
            same = message.message_id in batch.sources
        if same:
            copies.append(Skip(source, message.message_id, SkipWhy.SAME_CONTENT))
            continue
        batch.messages[message.message_id] = message
        batch.sources[message.message_id] = source
    for variant in [mid for mid, s in batch.sources.items() if s.variant_of and mid in known_variants]:
        copies.append(Skip(batch.sources.pop(variant), variant, SkipWhy.KNOWN_VARIANT))
        del batch.messages[variant]
    return batch, copies


def plan_policy(
    batch: Batch, statuses: Mapping[str, QuarantineStatus], settings: PlanSettings
) -> tuple[Batch, list[Action]]:
    """Keep mail that fails the sender policy off the wiki: quarantine it, and reply where set up."""
    mailbox = settings.mailbox
    if not mailbox.senders.allowed_senders and not mailbox.senders.require_authenticated:
        return batch, []
    kept = Batch(dict(batch.messages), dict(batch.sources))
    actions: list[Action] = []
    for message_id, message in batch.messages.items():
        if statuses.get(message_id) == QuarantineStatus.RELEASED:
            continue
        try:
            refusal = policy_refusal(
                message,
                mailbox.senders.allowed_senders,
                mailbox.senders.require_authenticated,
                mailbox.senders.trusted_authserv_ids,
            )
        except Exception as exc:  # one mail must never stop the mailbox
            source = kept.sources.pop(message_id)
            del kept.messages[message_id]
            actions.append(RecordFailure(source, message_id, describe_failure("checking the sender", exc)))
            continue
        if refusal is None:
            continue
        source = kept.sources.pop(message_id)
        del kept.messages[message_id]
        if mailbox.senders.quarantine == "flag":
            actions.append(Quarantine(source, message, refusal, "flag", mailbox.senders.quarantine_flag))
        else:
            actions.append(Quarantine(source, message, refusal, "move", mailbox.senders.quarantine_folder))
        recipient = message.sender_address.lower()
        if settings.refusal_replies and recipient:
            actions.append(_reply("refusal", message, settings, refusal))
    return kept, actions


def _reply(
    kind: ReplyKind, message: Message, settings: PlanSettings, refusal: Refusal | None = None
) -> Reply:
    """A reply to the sender: only colleagues hear of the wiki; others get none, or an acknowledgement."""
    recipient = message.sender_address.lower()
    forbidden = loop_reason(message, settings.own_addresses)
    # What matters is where the reply goes: to a colleague's mailbox it tells no outsider anything,
    # even when the From was forged (and an unauthenticated colleague still learns why a mail was held).
    if settings.insiders is None or settings.insiders.address_inside(recipient):
        return Reply(kind, message, recipient, forbidden, refusal)
    if settings.mailbox.replies.external_reply == "acknowledge":
        return Reply(kind, message, recipient, forbidden, refusal, acknowledge=True)
    return Reply(kind, message, recipient, forbidden or EXTERNAL_SENDER, refusal)


def _link_replies(messages: Sequence[Message], settings: PlanSettings) -> tuple[Reply, ...]:
    if not settings.link_replies:
        return ()
    return tuple(_reply("link", m, settings) for m in messages if m.sender_address)


def plan_groups(
    batch: Batch,
    known_threads: Mapping[str, int],
    pages: Mapping[int, str],
    settings: PlanSettings,
    known_subjects: Mapping[str, KnownSubject] | None = None,
) -> list[Action]:
    """Group the batch into threads (joining known ones, and by subject with `known_subjects`).

    Each group becomes one `PublishGroup` (on its thread's page when `pages` knows it), followed
    by a `MergeNote` when it joins threads published apart.
    """
    messages = list(batch.messages.values())
    if known_subjects is None:
        groups = group_messages(messages, known_threads)
    else:
        window = timedelta(days=settings.mailbox.space.subject_window_days)
        groups = group_messages(messages, known_threads, window, known_subjects)
    return [action for group in groups for action in plan_group(group, batch.sources, pages, settings)]


def plan_group(
    group: ThreadGroup, sources: Mapping[str, Source], pages: Mapping[int, str], settings: PlanSettings
) -> list[Action]:
    """One thread group's publish action (and its merge note)."""
    publish = PublishGroup(
        group=group,
        sources=tuple(sources[m.message_id] for m in group.messages),
        page=pages.get(group.thread_id) if group.thread_id is not None else None,
        new_title=page_title(settings.mailbox.space.page_prefix, group.first.subject),
        replies=_link_replies(group.messages, settings),
    )
    if group.thread_id is None or not group.also_linked:
        return [publish]
    return [publish, MergeNote(group.also_linked, group.thread_id)]


def plan_mail_action(
    settings: MailboxSettings, folder: str, pending: Sequence[int], actions: Sequence[Action]
) -> MailAction | None:
    """Flag or move what is pending from before and what the plan publishes (None: nothing to do).

    Copies that take over pending actions after a renumbering count as pending too.
    """
    if settings.mail_actions.after_publish == "keep":
        return None
    published = [
        s.uid for a in actions if isinstance(a, PublishGroup) for s in a.sources if s.folder == folder
    ]
    relocated = [a.source.uid for a in actions if isinstance(a, Skip) and a.relocate]
    uids = tuple(sorted({*pending, *published}))
    if not uids and not relocated:
        return None
    if settings.mail_actions.after_publish == "flag":
        return MailAction(folder, "flag", settings.mail_actions.publish_flag, uids)
    return MailAction(folder, "move", settings.mail_actions.archive_folder, uids)
