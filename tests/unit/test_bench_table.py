"""The benchmark's result table (bench/table.py): targets, missed figures, ratios, output."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass

from bench.table import Figure, Target, at_raw_speed, missed, p95, plain, ratio, render_table, to_json


def test_a_bound_is_met_up_to_and_including_its_limit() -> None:
    assert Target(1.1).met(1.1)
    assert Target(1.1).met(0.2)
    assert not Target(1.1).met(1.1001)
    assert Target(0.0, "==").met(0)
    assert not Target(0.0, "==").met(1)


def test_an_unmeasured_figure_with_a_target_is_missed_and_one_without_is_only_reported() -> None:
    assert not Target(1.0).met(None)
    assert not Target(1.0).met(math.nan)
    unmeasured, reported = Figure("x", None, target=Target(1.0)), Figure("y", None)
    assert unmeasured.ok is False
    assert reported.ok is None
    assert missed([unmeasured, reported, Figure("z", 0.5, target=Target(1.0))]) == [unmeasured]


def test_ratio_refuses_missing_values_and_zero_denominators() -> None:
    assert ratio(3, 2) == 1.5
    assert ratio(3, 0) is None
    assert ratio(None, 2) is None
    assert ratio(1, None) is None


def test_p95_stays_within_the_measured_values() -> None:
    assert p95([]) is None
    assert p95([0.7]) == 0.7
    values = [i / 100 for i in range(1, 51)]
    assert 0.46 <= (p95(values) or 0) <= 0.5


def test_the_table_shows_value_unit_target_and_verdict_aligned() -> None:
    table = render_table(
        [
            Figure("ratio", 1.234, target=Target(1.1)),
            Figure("rss", 57.0, unit="MB", digits=0),
            Figure("split", 1.0, text="0.1 / 0.2"),
            Figure("count", 3, target=Target(0, "==")),
        ]
    ).splitlines()
    assert table[0].split() == ["figure", "measured", "target", "ok"]
    assert table[2].split() == ["ratio", "1.23", "<=", "1.10", "NO"]
    assert table[3].split() == ["rss", "57", "MB"]
    assert table[4].split() == ["split", "0.1", "/", "0.2"]
    assert table[5].split() == ["count", "3.00", "==", "0.00", "NO"]
    assert len({len(line) for line in table[:2]}) == 1


def test_json_carries_every_figure_with_its_verdict_and_the_details() -> None:
    document = json.loads(to_json([Figure("a", 2.0, target=Target(1.0)), Figure("b", 1.0)], {"seed": 7}))
    assert document["missed"] == 1
    assert document["seed"] == 7
    assert [(row["name"], row["ok"], row["target"]) for row in document["figures"]] == [
        ("a", False, "<= 1.00"),
        ("b", None, None),
    ]


@dataclass
class _Run:
    commands: Counter[str]
    figure: Figure


def test_plain_turns_nested_dataclasses_and_counters_into_json_data() -> None:
    data = plain([_Run(Counter({"LOGIN": 2}), Figure("x", 1.0))])
    assert json.loads(json.dumps(data)) == [
        {
            "commands": {"LOGIN": 2},
            "figure": {"name": "x", "value": 1.0, "unit": "", "target": None, "digits": 2, "text": ""},
        }
    ]


def test_at_raw_speed_takes_out_a_slower_wiki_but_keeps_the_wait_for_the_bridge() -> None:
    # The wiki was twice as slow during the bridge's run: 80 s of writes there, 40 s in the raw loop.
    assert at_raw_speed(100.0, 90.0, 80.0, 42.0, 40.0) == (10.0 + 45.0) / 42.0
    # Same speed: the plain ratio.
    assert at_raw_speed(50.0, 45.0, 40.0, 42.0, 40.0) == 50.0 / 42.0
    assert at_raw_speed(50.0, 45.0, 0.0, 42.0, 40.0) is None


def test_idle_figures_split_the_latency_at_the_servers_notice() -> None:
    """The median target is on notice -> page; a mail whose notice was not seen counts whole."""
    from collections import Counter

    from bench.live import Arrival, QuietPasses
    from bench.side_by_side import live_figures

    quiet = QuietPasses(1, Counter({"EXAMINE": 1}), Counter())
    arrivals = [Arrival(0.55, 0.50), Arrival(0.56, 0.51), Arrival(0.60, None)]
    figures = {figure.name.split(",")[0]: figure for figure in live_figures(arrivals, quiet, quiet)}
    share = figures["IDLE: median notice -> page (the bridge's share)"]
    assert share.value is not None
    assert abs(share.value - 0.05) < 1e-9
    assert share.ok is True
    assert figures["IDLE: median APPEND -> page"].target is None
    assert figures["IDLE: median APPEND -> server's notice (EXISTS)"].value == 0.505
    slow = live_figures([Arrival(0.9, None)] * 3, quiet, quiet)
    assert [f.ok for f in slow if f.target is not None][:2] == [False, False]
