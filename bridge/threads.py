"""Grouping messages into threads (pure).

Messages belong together when they are connected through Message-ID, In-Reply-To and
References, directly or through an ancestor that is missing (a placeholder): the connected
components of the reference graph. Ids already published in earlier passes are looked up in
the state store by the caller and passed in as `known_threads`, so a late reply joins its
thread's page, and a message that several published threads claim joins the oldest of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bridge.model import Message


@dataclass(frozen=True, slots=True)
class ThreadGroup:
    """New messages that go to one page: an existing thread's, or a new one when `thread_id` is None.

    `also_linked` names further published threads these messages connect to (they stay where
    they are; the page of `thread_id` is the one that receives the messages).
    """

    messages: tuple[Message, ...]
    thread_id: int | None
    also_linked: tuple[int, ...] = ()


def thread_ids_of(messages: Iterable[Message]) -> set[str]:
    """Return every id a batch refers to (own ids and references): what to look up in the state."""
    ids: set[str] = set()
    for message in messages:
        ids.add(message.message_id)
        ids.update(message.references)
    return ids


def group_messages(messages: Sequence[Message], known_threads: Mapping[str, int]) -> list[ThreadGroup]:
    """Partition `messages` into thread groups, oldest group first.

    `known_threads` maps already published (or referenced) ids to their thread; ids absent from
    it are new. The result is deterministic whatever the order of `messages`.
    """
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        root = node
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[node] != root:  # path compression keeps long reply chains cheap
            parent[node], node = root, parent[node]
        return root

    def union(left: str, right: str) -> None:
        left_root, right_root = find(left), find(right)
        if left_root != right_root:
            parent[max(left_root, right_root)] = min(left_root, right_root)

    for message in messages:
        find(message.message_id)
        for reference in message.references:
            union(message.message_id, reference)

    members: dict[str, list[Message]] = {}
    threads_of_root: dict[str, set[int]] = {}
    for node in list(parent):
        if node in known_threads:
            threads_of_root.setdefault(find(node), set()).add(known_threads[node])
    for message in messages:
        members.setdefault(find(message.message_id), []).append(message)

    groups = []
    for root, group_messages_ in members.items():
        ordered = tuple(sorted(group_messages_, key=lambda m: (m.date, m.message_id)))
        linked = sorted(threads_of_root.get(root, set()))
        groups.append(
            ThreadGroup(
                messages=ordered,
                thread_id=linked[0] if linked else None,
                also_linked=tuple(linked[1:]),
            )
        )
    return sorted(groups, key=lambda group: (group.messages[0].date, group.messages[0].message_id))
