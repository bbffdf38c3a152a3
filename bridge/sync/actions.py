"""The typed plan of a pass: what the planner decided, as frozen values the executor carries out.

Each action says what is to happen to one mail, one thread group or one folder; `describe`
gives the sentence `once --dry-run` prints, `as_json` the object `once --dry-run --json` prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from bridge.core.model import Message
from bridge.core.senders import Refusal
from bridge.core.threads import ThreadGroup

MailVerb = Literal["flag", "move"]
ReplyKind = Literal["link", "refusal"]


@dataclass(frozen=True, slots=True)
class Source:
    """Where a message was read (folder, UID, UIDVALIDITY), and what identifies its content."""

    folder: str
    uid: int
    uidvalidity: int
    raw_size: int | None = None
    content_hash: str | None = None
    variant_of: str | None = None


class SkipWhy(StrEnum):
    """Why a mail is not published: it is already known."""

    KNOWN_COPY = "a copy of published mail (same Message-ID and size), not read"
    SAME_CONTENT = "the same content as mail published or read before"
    KNOWN_VARIANT = "other content under a known Message-ID, published already"


@dataclass(frozen=True, slots=True)
class Skip:
    """Leave a known mail alone; its failures are cleared, pending mail actions follow its UID."""

    source: Source
    message_id: str
    why: SkipWhy
    relocate: bool = False


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """Record a mail that cannot be published (it stays in its mailbox, retried, then parked)."""

    source: Source
    message_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Quarantine:
    """Keep a mail off the wiki under the sender policy: record it, flag or move it."""

    source: Source
    message: Message
    refusal: Refusal
    verb: MailVerb
    target: str


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply a sender is to get: a link to the page, or why the mail was not published.

    `forbidden` is the loop rule that forbids it, known from the mail alone; limits that depend
    on the time of sending (age, hourly limit, `reply = "first"`) are checked when it is due.
    `acknowledge`: the sender is outside the company and gets an acknowledgement without link.
    """

    kind: ReplyKind
    message: Message
    recipient: str
    forbidden: str | None = None
    refusal: Refusal | None = None
    acknowledge: bool = False


@dataclass(frozen=True, slots=True)
class PublishGroup:
    """Publish one thread group with one edit per page: on `page` (known), else as `new_title`.

    `sources` is aligned with `group.messages`; `replies` are the link replies drafted before
    the edit and due once it is confirmed. `route` names the mapping's route the group is
    published in (None: the mapping's own space).
    """

    group: ThreadGroup
    sources: tuple[Source, ...]
    page: str | None
    new_title: str
    replies: tuple[Reply, ...] = ()
    route: str | None = None


@dataclass(frozen=True, slots=True)
class MergeNote:
    """Give the pages of threads a group joined a note pointing to the page that continues them."""

    thread_ids: tuple[int, ...]
    into: int


@dataclass(frozen=True, slots=True)
class MailAction:
    """Flag or move published mail of a folder (only ever after its wiki write was confirmed)."""

    folder: str
    verb: MailVerb
    target: str
    uids: tuple[int, ...]


Action = Skip | RecordFailure | Quarantine | Reply | PublishGroup | MergeNote | MailAction


def _reply_text(reply: Reply) -> str:
    if reply.forbidden is not None:
        return f"not reply to {reply.recipient} ({reply.kind}): {reply.forbidden}"
    what = "acknowledgement" if reply.acknowledge else reply.kind
    return f"send reply to {reply.recipient}: {what} for <{reply.message.message_id}>"


def describe(action: Action) -> list[str]:
    """The lines a person reads in a dry run (each follows "would ")."""
    match action:
        case Skip(source=source, message_id=message_id, why=why):
            return [f"skip uid {source.uid} in {source.folder!r} <{message_id}>: {why.value}"]
        case RecordFailure(source=source, reason=reason):
            return [f"record uid {source.uid} in {source.folder!r} as failed: {reason}"]
        case Quarantine(source=source, refusal=refusal, verb=verb, target=target):
            how = f"flag {target}" if verb == "flag" else f"move to {target!r}"
            return [f"quarantine uid {source.uid} in {source.folder!r} ({how}): {refusal}"]
        case Reply():
            return [_reply_text(action)]
        case PublishGroup(group=group, page=page, new_title=new_title, replies=replies):
            count = f"{len(group.messages)} message(s)"
            head = f"append {count} to {page!r}" if page else f"create page {new_title!r} with {count}"
            return [head, *(_reply_text(reply) for reply in replies)]
        case MergeNote(thread_ids=thread_ids, into=into):
            threads = ", ".join(str(t) for t in thread_ids)
            return [
                f"note on the page(s) of thread(s) {threads} that the conversation continues in thread {into}"
            ]
        case MailAction(folder=folder, verb=verb, target=target, uids=uids):
            how = f"flag {target}" if verb == "flag" else f"move to {target!r}"
            return [f"{how}: {len(uids)} mail(s) in {folder!r}"]


def _source_json(source: Source) -> dict[str, Any]:
    return {"folder": source.folder, "uid": source.uid, "uidvalidity": source.uidvalidity}


def _reply_json(reply: Reply) -> dict[str, Any]:
    return {
        "action": "reply",
        "kind": reply.kind,
        "message_id": reply.message.message_id,
        "recipient": reply.recipient,
        "forbidden": reply.forbidden,
        "acknowledge": reply.acknowledge,
    }


def as_json(action: Action) -> dict[str, Any]:
    """The action as a JSON object for scripts (`action` names its kind)."""
    match action:
        case Skip(source=source, message_id=message_id, why=why):
            return {
                "action": "skip",
                **_source_json(source),
                "message_id": message_id,
                "why": why.name.lower(),
            }
        case RecordFailure(source=source, message_id=message_id, reason=reason):
            return {"action": "failure", **_source_json(source), "message_id": message_id, "reason": reason}
        case Quarantine(source=source, message=message, refusal=refusal, verb=verb, target=target):
            return {
                "action": "quarantine",
                **_source_json(source),
                "message_id": message.message_id,
                "reason": refusal.code,
                "detail": refusal.detail,
                verb: target,
            }
        case Reply():
            return _reply_json(action)
        case PublishGroup(group=group, sources=sources, page=page, new_title=new_title, replies=replies):
            return {
                "action": "publish",
                "page": page,
                "new_title": None if page else new_title,
                "thread_id": group.thread_id,
                "route": action.route,
                "message_ids": [m.message_id for m in group.messages],
                "uids": [s.uid for s in sources],
                "replies": [_reply_json(reply) for reply in replies],
            }
        case MergeNote(thread_ids=thread_ids, into=into):
            return {"action": "merge_note", "thread_ids": list(thread_ids), "into": into}
        case MailAction(folder=folder, verb=verb, target=target, uids=uids):
            return {"action": "mail", "folder": folder, verb: target, "uids": list(uids)}
