"""Grouping new messages into threads: connected components of the reference graph."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bridge.core.model import Message
from bridge.core.threads import ThreadGroup, group_messages, thread_ids_of

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def _msg(message_id: str, *references: str, minutes: int = 0) -> Message:
    return Message(
        message_id=message_id,
        references=references,
        subject="s",
        sender_name="n",
        sender_address="a@x.org",
        date=T0 + timedelta(minutes=minutes),
        body_text="b",
    )


def _ids(group: ThreadGroup) -> list[str]:
    return [message.message_id for message in group.messages]


def _partition(groups: list[ThreadGroup]) -> set[frozenset[str]]:
    return {frozenset(_ids(group)) for group in groups}


def test_simple_chain_is_one_group_in_date_order() -> None:
    """A root, its reply and the reply to the reply form one new thread, oldest first."""
    root = _msg("root@x", minutes=0)
    reply = _msg("r1@x", "root@x", minutes=1)
    reply2 = _msg("r2@x", "root@x", "r1@x", minutes=2)
    groups = group_messages([reply2, root, reply], {})
    assert len(groups) == 1
    assert _ids(groups[0]) == ["root@x", "r1@x", "r2@x"]
    assert groups[0].thread_id is None
    assert groups[0].also_linked == ()


def test_reply_before_parent_in_input_joins_parent() -> None:
    """A reply that comes before its parent in the batch still joins the parent's group."""
    groups = group_messages([_msg("child@x", "parent@x", minutes=5), _msg("parent@x")], {})
    assert _partition(groups) == {frozenset({"child@x", "parent@x"})}
    assert _ids(groups[0]) == ["parent@x", "child@x"]


def test_siblings_of_missing_parent_join_through_placeholder() -> None:
    """Two replies to a parent that is not in the batch join each other through it."""
    groups = group_messages([_msg("a@x", "gone@x", minutes=1), _msg("b@x", "gone@x", minutes=2)], {})
    assert _partition(groups) == {frozenset({"a@x", "b@x"})}


def test_missing_ancestor_deep_in_references_still_joins() -> None:
    """Replies sharing only an older ancestor (different parents, both missing) are one thread."""
    first = _msg("a@x", "root@x", "p1@x", minutes=1)
    second = _msg("b@x", "root@x", "p2@x", minutes=2)
    assert _partition(group_messages([first, second], {})) == {frozenset({"a@x", "b@x"})}


def test_unrelated_messages_stay_separate_and_oldest_group_first() -> None:
    """Messages with no reference between them form separate groups, ordered by first date."""
    groups = group_messages([_msg("late@x", minutes=10), _msg("early@x", minutes=1)], {})
    assert [_ids(group) for group in groups] == [["early@x"], ["late@x"]]
    assert all(group.thread_id is None for group in groups)


def test_known_id_gives_group_its_thread() -> None:
    """A reply to an already published message goes to that message's thread."""
    groups = group_messages([_msg("new@x", "old@x")], {"old@x": 7})
    assert len(groups) == 1
    assert groups[0].thread_id == 7
    assert groups[0].also_linked == ()


def test_known_id_reached_through_another_batch_message() -> None:
    """A message linked to a known thread only via another new message joins that thread too."""
    groups = group_messages([_msg("b@x", "a@x", minutes=2), _msg("a@x", "old@x", minutes=1)], {"old@x": 3})
    assert len(groups) == 1
    assert groups[0].thread_id == 3


def test_message_joining_two_known_threads_takes_the_smaller() -> None:
    """A message that references two published threads goes to the smaller id, the other is linked."""
    groups = group_messages([_msg("bridge@x", "t9@x", "t4@x")], {"t9@x": 9, "t4@x": 4})
    assert len(groups) == 1
    assert groups[0].thread_id == 4
    assert groups[0].also_linked == (9,)


def test_three_known_threads_are_all_linked_sorted() -> None:
    """With three known threads the smallest receives the message and the rest are linked in order."""
    known = {"x@x": 12, "y@x": 5, "z@x": 8}
    groups = group_messages([_msg("m@x", "x@x", "y@x", "z@x")], known)
    assert groups[0].thread_id == 5
    assert groups[0].also_linked == (8, 12)


def test_known_ids_of_unrelated_messages_do_not_leak() -> None:
    """A known thread is given only to the group that references it, not to unrelated groups."""
    groups = group_messages([_msg("a@x", "old@x", minutes=1), _msg("b@x", minutes=2)], {"old@x": 1})
    by_first = {_ids(group)[0]: group for group in groups}
    assert by_first["a@x"].thread_id == 1
    assert by_first["b@x"].thread_id is None


def test_own_id_already_known_gives_its_thread() -> None:
    """A message whose own id is known (a re-fetched copy) gets the thread of that id."""
    groups = group_messages([_msg("a@x")], {"a@x": 2})
    assert groups[0].thread_id == 2


def test_empty_batch_gives_no_groups() -> None:
    """No messages give no groups."""
    assert group_messages([], {"a@x": 1}) == []


def test_thread_ids_of_collects_own_and_referenced_ids() -> None:
    """The ids to look up are every own id and every reference of the batch."""
    batch = [_msg("a@x", "r1@x", "r2@x"), _msg("b@x", "a@x")]
    assert thread_ids_of(batch) == {"a@x", "b@x", "r1@x", "r2@x"}


_IDS = [f"m{i}@x" for i in range(8)]
_POOL = [*_IDS, "ghost1@x", "ghost2@x"]


@st.composite
def _batches(draw: st.DrawFn) -> tuple[list[Message], dict[str, int], list[int]]:
    count = draw(st.integers(min_value=1, max_value=len(_IDS)))
    messages = []
    for index, message_id in enumerate(_IDS[:count]):
        refs = draw(st.lists(st.sampled_from([i for i in _POOL if i != message_id]), max_size=3, unique=True))
        messages.append(_msg(message_id, *refs, minutes=draw(st.integers(0, 3)) + index % 2))
    known = draw(st.dictionaries(st.sampled_from(_POOL), st.integers(1, 5), max_size=3))
    order = draw(st.permutations(range(count)))
    return messages, known, order


@given(_batches())
def test_grouping_is_independent_of_input_order(
    batch: tuple[list[Message], dict[str, int], list[int]],
) -> None:
    """Any permutation of the input gives the same groups, threads and order; each message is in one group."""
    messages, known, order = batch
    groups = group_messages(messages, known)
    shuffled = group_messages([messages[i] for i in order], known)
    assert _partition(groups) == _partition(shuffled)
    assert [(_ids(g), g.thread_id, g.also_linked) for g in groups] == [
        (_ids(g), g.thread_id, g.also_linked) for g in shuffled
    ]
    all_ids = [message_id for group in groups for message_id in _ids(group)]
    assert sorted(all_ids) == sorted(message.message_id for message in messages)
    for group in groups:
        linked = [group.thread_id, *group.also_linked] if group.thread_id is not None else []
        assert linked == sorted(set(linked))


@given(_batches())
def test_groups_are_connected_components(batch: tuple[list[Message], dict[str, int], list[int]]) -> None:
    """Groups are the connected components; each takes the smallest known thread it reaches."""
    messages, known, _ = batch
    adjacency: dict[str, set[str]] = {}
    for message in messages:
        for ref in message.references:
            adjacency.setdefault(message.message_id, set()).add(ref)
            adjacency.setdefault(ref, set()).add(message.message_id)

    def component(start: str) -> set[str]:
        seen, todo = {start}, [start]
        while todo:
            for neighbour in adjacency.get(todo.pop(), set()) - seen:
                seen.add(neighbour)
                todo.append(neighbour)
        return seen

    own_ids = {message.message_id for message in messages}
    expected = {frozenset(component(m.message_id) & own_ids) for m in messages}
    groups = group_messages(messages, known)
    assert _partition(groups) == expected
    for group in groups:
        reachable = component(group.messages[0].message_id)
        threads = sorted({known[node] for node in reachable if node in known})
        assert group.thread_id == (threads[0] if threads else None)
        assert list(group.also_linked) == threads[1:]
