"""Running edits side by side (`Lanes`: never two per page, in order per page) and converting HTML
bodies in one pandoc run (`prepare_html`: the same trees as one run per body)."""

from __future__ import annotations

import subprocess
import threading
from collections import defaultdict
from collections.abc import Callable, Hashable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.core.parsing import parse_message
from bridge.core.render.pandoc import Block, html_to_blocks, prepare_html
from bridge.errors import MessageError, WikiUnavailableError
from bridge.sync.lanes import Lanes
from tests.hostile import hostile_html
from tests.mailgen import generate_mailbox


class Journal:
    """What the work did, in the order it happened, across threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[tuple[str, str, int]] = []
        self.busy: dict[str, int] = defaultdict(int)
        self.overlaps: list[str] = []

    def work(self, page: str, number: int, pause: threading.Event) -> Callable[[], int]:
        def run() -> int:
            with self.lock:
                self.busy[page] += 1
                if self.busy[page] > 1:
                    self.overlaps.append(page)
                self.events.append(("start", page, number))
            pause.wait(0.002)  # lets the other lanes interleave; correctness never depends on it
            with self.lock:
                self.busy[page] -= 1
                self.events.append(("end", page, number))
            return number

        return run


def _keys(page: str) -> frozenset[Hashable]:
    return frozenset({("page", page)})


def test_lanes_never_run_two_pieces_of_one_page_and_keep_their_order() -> None:
    """60 pieces over 5 pages on 4 lanes: no page has two at once, each page's pieces start in order."""
    journal, pause = Journal(), threading.Event()
    reported: list[int] = []
    plan = [(f"page-{number % 5}", number) for number in range(60)]
    with Lanes(4) as lanes:
        for page, number in plan:
            lanes.submit(_keys(page), journal.work(page, number, pause), reported.append)
    assert journal.overlaps == []
    assert sorted(reported) == list(range(60))
    for page in {page for page, _ in plan}:
        started = [n for kind, p, n in journal.events if kind == "start" and p == page]
        assert started == [n for p, n in plan if p == page]


def test_lanes_run_pieces_of_different_pages_at_the_same_time() -> None:
    """Two pieces of different pages meet at a barrier: only possible when both run at once."""
    meeting = threading.Barrier(2, timeout=30)
    with Lanes(2) as lanes:
        for page in ("a", "b"):
            lanes.submit(_keys(page), meeting.wait, lambda _: None)


def test_a_failing_piece_is_raised_after_the_others_finished_and_were_reported() -> None:
    """The wiki going away in one lane: the running pieces end and count, then the error stops the pass."""
    release = threading.Event()
    reported: list[int] = []

    def fails() -> int:
        release.wait(30)
        raise WikiUnavailableError("the wiki went away")

    def succeeds() -> int:
        release.set()
        return 7

    with pytest.raises(WikiUnavailableError), Lanes(2) as lanes:
        lanes.submit(_keys("a"), fails, reported.append)
        lanes.submit(_keys("b"), succeeds, reported.append)
        lanes.drain()
    assert reported == [7]


def _outcome(html: str) -> list[Block] | str:
    try:
        return html_to_blocks(html)
    except MessageError as exc:
        return str(exc)


def test_one_pandoc_run_for_a_batch_gives_each_body_its_own_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    """The HTML bodies of generated mail: converted together in one run, each tree is the one
    converted alone, and rendering them then starts no pandoc at all."""
    mails = generate_mailbox(seed=5, messages=120).mails
    bodies = [m.body_html for m in (parse_message(raw) for raw in mails) if m.body_html]
    assert len(bodies) > 10
    alone = [_outcome(body) for body in bodies]
    runs: list[list[str]] = []
    real_run = subprocess.run

    def counted(command: list[str], **kwargs: Any) -> Any:
        runs.append(command)
        return real_run(command, **kwargs)

    monkeypatch.setattr(subprocess, "run", counted)
    prepare_html([*bodies, "<p>not rendered here</p>"])
    assert len(runs) == 1
    assert [_outcome(body) for body in bodies] == alone
    assert len(runs) == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile_html(), min_size=2, max_size=6))
def test_hostile_bodies_converted_together_give_the_trees_converted_alone(bodies: list[str]) -> None:
    """Broken, deep, scripted HTML: a batch never mixes one body's content into another's tree."""
    alone = [_outcome(body) for body in bodies]
    prepare_html(bodies)
    assert [_outcome(body) for body in bodies] == alone
