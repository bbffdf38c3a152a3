"""The adoption report as wikitext and as a plain table, in German and English.

Only counts, dates, page titles and links reach the page: no mail text, no addresses. Titles
come from mail subjects (through `page_title`), so the link labels are escaped like every mail
text; link targets are the titles the bridge itself made or found on the wiki.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from bridge.core.adoption import PageCount, Report, Trend, Week
from bridge.core.render.escape import escape_inline, single_line

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "intro": "This page is kept up to date by email-wiki-bridge for the mailbox {mailbox}: "
        "how the discussion of its threads continues, by mail or on the wiki. Weeks start on Monday "
        "({zone}); human edits are edits by people, not by the bridge or other bots.",
        "headline": "Continued on the wiki",
        "share": "In the last {weeks} weeks, '''{share}''' of the follow-ups on published threads were "
        "edits on the wiki, the rest were mails.",
        "no_share": "In the last {weeks} weeks there were no follow-ups on published threads.",
        "trend": "Trend: {arrow} {points} points (the last {recent} weeks against the {recent} before).",
        "no_trend": "Trend: not enough follow-ups yet to tell.",
        "chart": "Mails and human wiki edits per week",
        "weekly": "Per week",
        "top": "Most active pages",
        "still": "Still discussed by mail",
        "still_intro": "Threads that keep going by mail although their page was announced: "
        "candidates for a nudge towards the wiki.",
        "none": "None.",
        "week": "Week of",
        "mails": "Mails",
        "new_threads": "New threads",
        "pages_edited": "Pages edited",
        "human_edits": "Human edits",
        "follow_ups": "Follow-up mails",
        "on_wiki": "On the wiki",
        "to_first_edit": "Median to first edit",
        "page": "Page",
        "minutes": "{n} min",
        "hours": "{n} h",
        "days": "{n} d",
        "percent": "{n}%",
    },
    "de": {
        "intro": "Diese Seite hält email-wiki-bridge für das Postfach {mailbox} aktuell: wie die "
        "Diskussion seiner Threads weitergeht, per Mail oder im Wiki. Wochen beginnen am Montag "
        "({zone}); menschliche Bearbeitungen sind die von Personen, nicht von der Brücke oder "
        "anderen Bots.",
        "headline": "Im Wiki weitergeführt",
        "share": "In den letzten {weeks} Wochen waren '''{share}''' der Beiträge zu veröffentlichten "
        "Threads Bearbeitungen im Wiki, der Rest Mails.",
        "no_share": "In den letzten {weeks} Wochen gab es keine weiteren Beiträge zu veröffentlichten "
        "Threads.",
        "trend": "Trend: {arrow} {points} Prozentpunkte (die letzten {recent} Wochen gegenüber den "
        "{recent} davor).",
        "no_trend": "Trend: noch zu wenige Beiträge für eine Aussage.",
        "chart": "Mails und menschliche Wiki-Bearbeitungen pro Woche",
        "weekly": "Pro Woche",
        "top": "Aktivste Seiten",
        "still": "Weiter per Mail diskutiert",
        "still_intro": "Threads, die trotz angekündigter Seite per Mail weiterlaufen: Kandidaten für "
        "einen Hinweis aufs Wiki.",
        "none": "Keine.",
        "week": "Woche ab",
        "mails": "Mails",
        "new_threads": "Neue Threads",
        "pages_edited": "Bearbeitete Seiten",
        "human_edits": "Menschliche Bearbeitungen",
        "follow_ups": "Folge-Mails",
        "on_wiki": "Im Wiki",
        "to_first_edit": "Median bis zur ersten Bearbeitung",
        "page": "Seite",
        "minutes": "{n} Min.",
        "hours": "{n} Std.",
        "days": "{n} Tage",
        "percent": "{n} %",
    },
}
_ARROWS = {Trend.UP: "▲", Trend.DOWN: "▼", Trend.FLAT: "►"}


def text(language: str, key: str, **values: str) -> str:
    """Return the report's text `key` in `language` (English when the language is not shipped)."""
    return _TEXTS.get(language, _TEXTS["en"])[key].format(**values)


@dataclass(frozen=True, slots=True)
class ReportPage:
    """What the page says besides the figures: whose report, in which zone, which chart file."""

    mailbox: str
    zone: str
    language: str
    chart_file: str | None  # the file's name without `File:`, None when no chart was uploaded


def week_header(language: str) -> tuple[str, ...]:
    """The column headings of the weekly table."""
    keys = ("week", "mails", "new_threads", "pages_edited", "human_edits", "follow_ups", "on_wiki")
    return (*(text(language, key) for key in keys), text(language, "to_first_edit"))


def week_cells(week: Week, language: str) -> tuple[str, ...]:
    """One week's row: its Monday, the counts, the share on the wiki and the median time."""
    return (
        format_day(week.start, language),
        str(week.mails),
        str(week.new_threads),
        str(week.pages_edited),
        str(week.human_edits),
        str(week.follow_up_mails),
        format_share(week.share, language),
        format_duration(week.median_to_first_edit, language),
    )


def format_day(day: date, language: str) -> str:
    """A date as readers of `language` write it (23.11.2026, 2026-11-23)."""
    return f"{day:%d.%m.%Y}" if language == "de" else day.isoformat()


def format_share(share: float | None, language: str) -> str:
    """A share as whole percent, "–" when there is none."""
    return "–" if share is None else text(language, "percent", n=str(round(share * 100)))


def format_duration(duration: timedelta | None, language: str) -> str:
    """A duration in minutes, hours or days, rounded; "–" when there is none."""
    if duration is None:
        return "–"
    minutes = round(duration.total_seconds() / 60)
    if minutes < 60:
        return text(language, "minutes", n=str(minutes))
    if minutes < 48 * 60:
        return text(language, "hours", n=str(round(minutes / 60)))
    return text(language, "days", n=str(round(minutes / (24 * 60))))


def trend_sentence(report: Report, language: str) -> str:
    """The trend of the share "continued on the wiki", as one sentence."""
    if report.trend == Trend.UNKNOWN or report.trend_points is None:
        return text(language, "no_trend")
    points = f"{report.trend_points:+.1f}"
    if language == "de":
        points = points.replace(".", ",")
    recent = str(min(4, len(report.weeks)))
    return text(language, "trend", arrow=_ARROWS[report.trend], points=points, recent=recent)


def headline(report: Report, language: str) -> str:
    """The headline figure: the share of follow-ups made on the wiki in the whole period."""
    weeks = str(len(report.weeks))
    if report.share is None:
        return text(language, "no_share", weeks=weeks)
    return text(language, "share", weeks=weeks, share=format_share(report.share, language))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ['{| class="wikitable sortable"', "! " + " !! ".join(header)]
    for row in rows:
        lines.extend(("|-", "| " + " || ".join(row)))
    lines.append("|}")
    return "\n".join(lines)


def _link(title: str, prefix: str) -> str:
    label = title[len(prefix) + 1 :] if title.startswith(f"{prefix}/") else title
    return f"[[:{title}|{escape_inline(single_line(label))}]]"


def _pages(pages: Sequence[PageCount], prefix: str, language: str, mails_key: str) -> str:
    if not pages:
        return text(language, "none")
    header = (text(language, "page"), text(language, mails_key), text(language, "human_edits"))
    return _table(
        header, [(_link(page.title, prefix), str(page.mails), str(page.human_edits)) for page in pages]
    )


def render_report(report: Report, page: ReportPage, prefix: str) -> str:
    """The report page's wikitext: headline and trend, chart, weekly table, top pages, nudges."""
    language = page.language
    mailbox = escape_inline(single_line(page.mailbox))
    parts = [
        f"''{text(language, 'intro', mailbox=mailbox, zone=escape_inline(single_line(page.zone)))}''",
        f"== {text(language, 'headline')} ==",
        f"{headline(report, language)} {trend_sentence(report, language)}",
    ]
    if page.chart_file:
        parts.append(f"[[File:{page.chart_file}|frame|none|{text(language, 'chart')}]]")
    weeks = [week_cells(week, language) for week in reversed(report.weeks)]
    parts += [
        f"== {text(language, 'weekly')} ==",
        _table(week_header(language), weeks),
        f"== {text(language, 'top')} ==",
        _pages(report.top_pages, prefix, language, "mails"),
        f"== {text(language, 'still')} ==",
        text(language, "still_intro"),
        _pages(report.still_by_mail, prefix, language, "follow_ups"),
    ]
    return "\n\n".join(parts) + "\n"
