"""The report page, its chart and the status page as text: languages, escaping, deterministic PNGs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from bridge.core.adoption import Report, ThreadActivity, weekly_report
from bridge.core.render.chart import render_chart
from bridge.core.render.report_page import ReportPage, format_duration, render_report
from bridge.core.render.titles import page_title
from bridge.service.report import chart_name, due
from bridge.service.status_page import STATUS_MARKER, render_status

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def _report(title: str = "P/Budget", edits: int = 1) -> Report:
    start = NOW - timedelta(days=8)
    activity = ThreadActivity(
        title,
        (start, NOW - timedelta(days=1), NOW),
        start,
        tuple(NOW - timedelta(hours=h) for h in range(edits)),
    )
    return weekly_report([activity], NOW, BERLIN)


def _png_chunks(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, position = [], 8
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        chunks.append(data[position + 4 : position + 8])
        position += 12 + length
    return chunks


def test_english_and_german_pages_carry_the_figures_newest_week_first() -> None:
    report = weekly_report([], NOW, BERLIN)
    english = render_report(report, ReportPage("sales", "Europe/Berlin", "en", "Chart.png"), "P")
    german = render_report(report, ReportPage("sales", "Europe/Berlin", "de", None), "P")
    assert "== Per week ==" in english and "[[File:Chart.png|frame|none|" in english
    assert "== Pro Woche ==" in german and "[[File:" not in german
    assert english.index("| 2026-11-30 ||") < english.index("| 2026-11-23 ||")
    assert german.index("| 30.11.2026 ||") < german.index("| 23.11.2026 ||")
    assert "no follow-ups" in english and "keine weiteren Beiträge" in german


def test_figures_share_and_median_are_written_per_language() -> None:
    report = _report()
    english = render_report(report, ReportPage("sales", "Europe/Berlin", "en", None), "P")
    german = render_report(report, ReportPage("sales", "Europe/Berlin", "de", None), "P")
    assert "| 2026-11-30 || 1 || 0 || 1 || 1 || 1 || 50% || 8 d" in english
    assert "| 30.11.2026 || 1 || 0 || 1 || 1 || 1 || 50 % || 8 Tage" in german
    assert "| [[:P/Budget|Budget]] || 3 || 1" in english


def test_durations_in_minutes_hours_and_days() -> None:
    assert format_duration(timedelta(minutes=42), "en") == "42 min"
    assert format_duration(timedelta(hours=30), "de") == "30 Std."
    assert format_duration(timedelta(days=3, hours=13), "en") == "4 d"
    assert format_duration(None, "de") == "–"


@given(st.text(min_size=1, max_size=60))
def test_a_hostile_title_reaches_the_page_only_as_escaped_text(subject: str) -> None:
    """Titles come from mail subjects: the link label never opens markup; the target is the title."""
    title = page_title("P", subject)
    text = render_report(_report(title), ReportPage("sales", "UTC", "en", None), "P")
    line = next(line for line in text.split("\n") if line.startswith("| [[:"))
    label = line[len(f"| [[:{title}|") : line.rindex("]] ||")]
    for opener in ("{{", "[[", "<", "~~~", "''", "__"):
        assert opener not in label


def test_a_title_with_markup_is_escaped_in_the_label() -> None:
    text = render_report(
        _report("P/{{Delete}} ''bold'' <b>x</b> ~~~~"), ReportPage("s", "UTC", "en", None), "P"
    )
    assert (
        "|&#123;&#123;Delete&#125;&#125; &#39;&#39;bold&#39;&#39; &lt;b&gt;x&lt;/b&gt; "
        "&#126;&#126;&#126;&#126;]]" in text
    )


def test_the_chart_is_the_same_bytes_for_the_same_figures_and_carries_no_software_or_time() -> None:
    report = _report()
    first = render_chart(report.weeks, "de")
    assert first == render_chart(report.weeks, "de")
    assert first != render_chart(_report(edits=2).weeks, "de")
    chunks = _png_chunks(first)
    assert b"tIME" not in chunks
    assert b"Software" not in first and b"matplotlib" not in first.lower()


def test_chart_names_are_stable_file_names_made_from_the_report_page() -> None:
    assert chart_name("Sales/Mail/Report") == "Sales-Mail-Report chart.png"
    assert chart_name("Project:Mail/Bericht") == "Project-Mail-Bericht chart.png"


def test_a_page_is_due_after_its_interval() -> None:
    assert due(None, 600, NOW)
    assert not due((NOW - timedelta(seconds=599)).isoformat(), 600, NOW)
    assert due((NOW - timedelta(seconds=600)).isoformat(), 600, NOW)
    assert due(NOW.isoformat(), 0, NOW)


def test_the_status_page_escapes_every_cell() -> None:
    text = render_status(("MAILBOX", "LAST ERROR"), [("sales", "login failed: [[x]] {{y}}\n== z ==")], 600)
    assert text.startswith(STATUS_MARKER)
    assert "| sales || login failed: &#91;&#91;x&#93;&#93; &#123;&#123;y&#125;&#125; == z =&#61;" in text
    assert "at most every 10 minutes" in text
