"""The adoption report's chart: mails against human wiki edits per week, as PNG bytes.

Drawn with matplotlib's Agg canvas directly (no pyplot: no global figure state, safe in the
daemon's threads). The bytes are deterministic for the same figures, with no timestamp and no
software version in the file, so a content hash tells whether the chart changed.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bridge.core.adoption import Week
from bridge.core.render.report_page import text


def render_chart(weeks: Sequence[Week], language: str) -> bytes:
    """Return the PNG of mails and human edits per week (oldest week on the left)."""
    figure = Figure(figsize=(8, 3.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(weeks)))
    width = 0.4
    axes.bar(
        [p - width / 2 for p in positions],
        [w.mails for w in weeks],
        width,
        label=text(language, "mails"),
        color="#7f8c8d",
    )
    axes.bar(
        [p + width / 2 for p in positions],
        [w.human_edits for w in weeks],
        width,
        label=text(language, "human_edits"),
        color="#2e86c1",
    )
    axes.set_xticks(positions, [_short_day(w.start, language) for w in weeks], fontsize=8)
    axes.set_title(text(language, "chart"), fontsize=10)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(fontsize=8, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    # No "Software" entry (it carries matplotlib's version) and no time: the same figures, the same bytes.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _short_day(day: date, language: str) -> str:
    """A week's Monday without the year, as the axis labels show it (23.11., 11-23)."""
    return f"{day:%d.%m.}" if language == "de" else f"{day:%m-%d}"
