"""The planner: pure functions turning what a pass read into its plan (see `bridge.sync.actions`).

Nothing here does I/O: the reader hands in what the mailbox and the state store said (header
ids and sizes, known fingerprints, parsed mail and parse failures, known threads, pages and
subjects, quarantine statuses), the settings decide the rest. The same inputs give the same plan,
which the executor carries out, or `once --dry-run` prints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from bridge.adapters.state.statuses import QuarantineStatus
from bridge.adapters.state.store import Fingerprint
from bridge.core.model import Message
from bridge.core.people import EXTERNAL_SENDER, Insiders
from bridge.core.redact import redact_text
from bridge.core.render.titles import page_title
from bridge.core.replies import loop_reason
from bridge.core.routing import match_route, route_of_title, unrouted_reason
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
class Routing:
    """Which route each mail of a batch takes (None: the mapping's own space), and which none takes.

    `followed` names the mails that follow their thread's page although their recipients chose
    another route (the pass logs them).
    """

    routes: dict[str, str | None] = field(default_factory=dict)
    unrouted: dict[str, str] = field(default_factory=dict)
    followed: dict[str, str] = field(default_factory=dict)


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


def plan_routes(
    messages: Sequence[Message],
    known_threads: Mapping[str, int],
    pages: Mapping[int, str],
    mailbox: MailboxSettings,
    released: Collection[str] = (),
) -> Routing:
    """Route a batch: a thread with a page keeps its route; a new thread takes its first mail's route.

    A mail no route takes (and nothing of its thread has one) is unrouted: quarantined with the
    reason "no route for …", or with `unrouted = "default"` published in the mapping's own space,
    as is unrouted mail `released` from quarantine.
    """
    routing = Routing()
    rules = mailbox.route_rules
    if not rules:
        return routing
    for group in group_messages(messages, known_threads):
        page = pages.get(group.thread_id) if group.thread_id is not None else None
        own = {m.message_id: match_route(m, rules) for m in group.messages}
        first = next((match for match in own.values() if match is not None), None)
        route = route_of_title(page, rules) if page is not None else first.route if first else None
        for message in group.messages:
            mine = own[message.message_id]
            held = message.message_id not in released and mailbox.unrouted == "quarantine"
            if page is None and first is None and held:
                routing.unrouted[message.message_id] = unrouted_reason(message)
                continue
            routing.routes[message.message_id] = route
            if page is not None and mine is not None and mine.route != route:
                routing.followed[message.message_id] = mine.route
    return routing


def plan_policy(
    batch: Batch,
    statuses: Mapping[str, QuarantineStatus],
    settings: PlanSettings,
    routing: Routing | None = None,
) -> tuple[Batch, list[Action]]:
    """Keep unrouted mail and mail that fails its route's sender policy off the wiki: quarantine it.

    A sender whose mail is quarantined gets a reply saying why, where set up; released mail is
    published (unrouted mail then in the mapping's own space).
    """
    routing = routing or Routing()
    kept = Batch(dict(batch.messages), dict(batch.sources))
    actions: list[Action] = []
    for message_id, message in batch.messages.items():
        if statuses.get(message_id) == QuarantineStatus.RELEASED:
            continue
        senders = settings.mailbox.for_route(routing.routes.get(message_id)).senders
        if message_id not in routing.unrouted and not (
            senders.allowed_senders or senders.require_authenticated
        ):
            continue
        try:
            refusal = (
                Refusal("no_route", routing.unrouted[message_id])
                if message_id in routing.unrouted
                else policy_refusal(
                    message,
                    senders.allowed_senders,
                    senders.require_authenticated,
                    senders.trusted_authserv_ids,
                )
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
        if senders.quarantine == "flag":
            actions.append(Quarantine(source, message, refusal, "flag", senders.quarantine_flag))
        else:
            actions.append(Quarantine(source, message, refusal, "move", senders.quarantine_folder))
        recipient = message.sender_address.lower()
        if settings.refusal_replies and recipient:
            routed = dataclasses.replace(
                settings, mailbox=settings.mailbox.for_route(routing.routes.get(message_id))
            )
            actions.append(_reply("refusal", message, routed, refusal))
    return kept, actions


def _reply(
    kind: ReplyKind, message: Message, settings: PlanSettings, refusal: Refusal | None = None
) -> Reply:
    """A reply to the sender: only colleagues hear of the wiki; others get none, or an acknowledgement."""
    recipient = message.sender_address.lower()
    forbidden = loop_reason(message, settings.own_addresses)
    # What matters is where the reply goes: to a colleague's mailbox it tells no outsider anything,
    # even when the From was forged (and an unauthenticated colleague still learns why a mail was held).
    # A route's own `internal_domains` (settings.mailbox is the route's) replace the mapping's.
    insiders, domains = settings.insiders, settings.mailbox.senders.internal_domains
    if insiders is not None and domains is not None:
        insiders = dataclasses.replace(insiders, domains=domains)
    if insiders is None or insiders.address_inside(recipient):
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
    routing: Routing | None = None,
) -> list[Action]:
    """Group the batch into threads (joining known ones, and by subject with `known_subjects`).

    Each group becomes one `PublishGroup` (on its thread's page when `pages` knows it, in the
    route `routing` gives its first mail), followed by a `MergeNote` when it joins threads
    published apart.
    """
    routing = routing or Routing()
    messages = list(batch.messages.values())
    if known_subjects is None:
        groups = group_messages(messages, known_threads)
    else:
        window = timedelta(days=settings.mailbox.space.subject_window_days)
        groups = group_messages(messages, known_threads, window, known_subjects)
    return [
        action
        for group in groups
        for action in plan_group(
            group, batch.sources, pages, settings, routing.routes.get(group.first.message_id)
        )
    ]


def plan_group(
    group: ThreadGroup,
    sources: Mapping[str, Source],
    pages: Mapping[int, str],
    settings: PlanSettings,
    route: str | None = None,
) -> list[Action]:
    """One thread group's publish action (and its merge note); a known page decides the route."""
    page = pages.get(group.thread_id) if group.thread_id is not None else None
    if page is not None:
        route = route_of_title(page, settings.mailbox.route_rules)
    routed = dataclasses.replace(settings, mailbox=settings.mailbox.for_route(route))
    space = routed.mailbox.space
    subject = redact_text(group.first.subject, routed.mailbox.redaction.rules(space.language))
    publish = PublishGroup(
        group=group,
        sources=tuple(sources[m.message_id] for m in group.messages),
        page=page,
        new_title=page_title(space.page_prefix, subject),
        replies=_link_replies(group.messages, routed),
        route=route,
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
