"""The benchmark's result table: figures, their targets, and whether they are met (pure).

A `Figure` is one line of `bench/run`'s output: what was measured, in which unit, and an
optional `Target`. Figures without a target are reported only. A figure with a target whose
value could not be measured counts as missed, so a broken measurement never passes silently.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Target:
    """A bound a figure must keep: at most (``<=``) or exactly/at least another value."""

    limit: float
    op: Literal["<=", "=="] = "<="

    def met(self, value: float | None) -> bool:
        """Whether `value` keeps the bound (a missing or NaN value never does)."""
        if value is None or math.isnan(value):
            return False
        if self.op == "==":
            return math.isclose(value, self.limit)
        return value <= self.limit + 1e-9

    def __str__(self) -> str:
        return f"{self.op} {_number(self.limit, 2)}"


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure: name, value (None when it could not be measured), unit, target."""

    name: str
    value: float | None
    unit: str = ""
    target: Target | None = None
    digits: int = 2
    text: str = ""
    """Shown instead of the value: several numbers on one report-only line."""

    @property
    def ok(self) -> bool | None:
        """True/False against the target; None for a figure that is only reported."""
        return None if self.target is None else self.target.met(self.value)

    def shown(self) -> str:
        """The value as printed, with its unit."""
        if self.text:
            return self.text
        if self.value is None:
            return "n/a"
        return f"{_number(self.value, self.digits)}{' ' + self.unit if self.unit else ''}"


def _number(value: float, digits: int) -> str:
    """A number with thousands separators and `digits` decimals (none for whole counts)."""
    if float(value).is_integer() and digits == 0:
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def at_raw_speed(
    bridge_wall: float, bridge_busy: float, bridge_writes: float, raw_wall: float, raw_writes: float
) -> float | None:
    """Bridge / raw wall time as if the wiki had been as fast for the bridge as for the raw loop.

    Both saved the same pages and files, so the wiki's time for those writes differs only by
    what else ran on the machine meanwhile. The bridge's time with the wiki (`bridge_busy`,
    its other requests included) is scaled by raw writes / bridge writes (seconds the wiki spent
    on the writes in each run); the time the wiki waited for the bridge (wall - busy) is kept
    as it was. None when a figure is missing.
    """
    scale = ratio(raw_writes, bridge_writes)
    if scale is None:
        return None
    return ratio(bridge_wall - bridge_busy + bridge_busy * scale, raw_wall)


def p95(values: Sequence[float]) -> float | None:
    """The 95th percentile (inclusive method: within the measured range), None without values."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def render_table(figures: Sequence[Figure]) -> str:
    """The figures as an aligned text table: figure, measured, target, ok."""
    rows = [("figure", "measured", "target", "ok")]
    for figure in figures:
        ok = {None: "", True: "yes", False: "NO"}[figure.ok]
        rows.append((figure.name, figure.shown(), str(figure.target or ""), ok))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = []
    for index, row in enumerate(rows):
        lines.append(
            f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}".rstrip()
        )
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def missed(figures: Sequence[Figure]) -> list[Figure]:
    """The figures whose target is not met."""
    return [figure for figure in figures if figure.ok is False]


def plain(value: Any) -> Any:
    """`value` as JSON-ready data: dataclasses as dicts, Counters and other mappings as dicts.

    (`dataclasses.asdict` rebuilds a Counter from its items, which counts the pairs as keys.)
    """
    if is_dataclass(value) and not isinstance(value, type):
        return {item.name: plain(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def to_json(figures: Sequence[Figure], details: dict[str, Any]) -> str:
    """The figures (with `ok`) and the run's details as one JSON document."""
    rows = []
    for figure in figures:
        row = plain(figure)
        row["target"] = str(figure.target) if figure.target else None
        row["ok"] = figure.ok
        rows.append(row)
    return json.dumps({"figures": rows, "missed": len(missed(figures)), **details}, indent=2, default=str)
