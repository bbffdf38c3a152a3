"""Grouping messages into threads (pure).

Messages belong together when they are connected through Message-ID, In-Reply-To and
References (or, for Outlook mail without References, the Thread-Index conversation),
directly or through an ancestor that is missing (a placeholder). The groups are the connected
components of that reference graph. On consistent headers this is the partition of RFC 5256
REFERENCES threading (JWZ); unlike JWZ's tree building it does not depend on the order in
which mail arrives, which incremental passes need: any arrival order and any split into passes
yields the same groups. Self-references, loops, duplicated and truncated References are
harmless in a graph.

Ids already published in earlier passes are looked up in the state store by the caller and
passed in as `known_threads`, so a late reply joins its thread's page; a group that touches
several published threads goes to the oldest of them.

Optionally (`subject_window`), a group that starts without any reference joins an earlier
thread with the same base subject whose last message is at most the window older, unless the
subject is generic ("Hallo", "Question").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.core.model import Message
from bridge.core.subjects import is_generic, subject_key


@dataclass(frozen=True, slots=True)
class ThreadGroup:
    """New messages that go to one page: an existing thread's, or a new one when `thread_id` is None.

    `also_linked` names further published threads these messages connect to; their pages get a
    note pointing to the page of `thread_id`, which receives the messages.
    """

    messages: tuple[Message, ...]
    thread_id: int | None
    also_linked: tuple[int, ...] = ()

    @property
    def first(self) -> Message:
        """The oldest message of the group."""
        return self.messages[0]

    @property
    def last_date(self) -> datetime:
        """The date of the newest message of the group."""
        return self.messages[-1].date


@dataclass(frozen=True, slots=True)
class KnownSubject:
    """The newest published thread with a given subject key, and its last message's date."""

    thread_id: int
    last_date: datetime


def thread_ids_of(messages: Iterable[Message]) -> set[str]:
    """Return every id a batch refers to (own ids and links): what to look up in the state."""
    ids: set[str] = set()
    for message in messages:
        ids.add(message.message_id)
        ids.update(message.links)
    return ids


def subject_keys_of(messages: Iterable[Message]) -> set[str]:
    """Return the subject keys under which messages of a batch may join a thread by subject."""
    keys = {subject_key(message.subject) for message in messages if not message.links}
    return {key for key in keys if not is_generic(key)}


def _joinable_key(group: ThreadGroup) -> str | None:
    if group.thread_id is not None or group.first.links:
        return None
    key = subject_key(group.first.subject)
    return None if is_generic(key) else key


def group_messages(
    messages: Sequence[Message],
    known_threads: Mapping[str, int],
    subject_window: timedelta | None = None,
    known_subjects: Mapping[str, KnownSubject] | None = None,
) -> list[ThreadGroup]:
    """Partition `messages` into thread groups, oldest group first.

    `known_threads` maps already published (or referenced) ids to their thread; ids absent from
    it are new. Without `subject_window` the result does not depend on the order of `messages`.
    """
    groups = _reference_groups(messages, known_threads)
    if subject_window is not None:
        groups = _join_by_subject(groups, subject_window, known_subjects or {})
    return sorted(groups, key=lambda group: (group.first.date, group.first.message_id))


def _reference_groups(messages: Sequence[Message], known_threads: Mapping[str, int]) -> list[ThreadGroup]:
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        root = node
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[node] != root:  # path compression keeps long reply chains cheap
            parent[node], node = root, parent[node]
        return root

    for message in messages:
        own = find(message.message_id)
        for link in message.links:
            other = find(link)
            if own != other:
                # The smaller id becomes the root, so the outcome is independent of input order.
                parent[max(own, other)] = min(own, other)
                own = min(own, other)

    threads_of_root: dict[str, set[int]] = {}
    for node in list(parent):
        if node in known_threads:
            threads_of_root.setdefault(find(node), set()).add(known_threads[node])
    members: dict[str, list[Message]] = {}
    for message in messages:
        members.setdefault(find(message.message_id), []).append(message)

    groups = []
    for root, group_members in members.items():
        linked = sorted(threads_of_root.get(root, set()))
        groups.append(
            ThreadGroup(
                messages=tuple(sorted(group_members, key=lambda m: (m.date, m.message_id))),
                thread_id=linked[0] if linked else None,
                also_linked=tuple(linked[1:]),
            )
        )
    return groups


def _join_by_subject(
    groups: list[ThreadGroup], window: timedelta, known_subjects: Mapping[str, KnownSubject]
) -> list[ThreadGroup]:
    result: list[ThreadGroup] = []
    open_by_key: dict[str, int] = {}  # subject key -> index in result of the latest joinable group
    for group in sorted(groups, key=lambda g: (g.first.date, g.first.message_id)):
        key = _joinable_key(group)
        if key is None:
            result.append(group)
            continue
        earlier = open_by_key.get(key)
        if earlier is not None and group.first.date - result[earlier].last_date <= window:
            merged = result[earlier]
            result[earlier] = ThreadGroup(
                messages=tuple(
                    sorted(merged.messages + group.messages, key=lambda m: (m.date, m.message_id))
                ),
                thread_id=merged.thread_id,
            )
            continue
        known = known_subjects.get(key)
        if known is not None and abs(group.first.date - known.last_date) <= window:
            group = ThreadGroup(messages=group.messages, thread_id=known.thread_id)
        open_by_key[key] = len(result)
        result.append(group)
    return result
