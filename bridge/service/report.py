"""The adoption report of one mapping: gathering its figures, and keeping its page and chart on the wiki.

The figures come from the state store (threads, when their mails were published, their first
link reply) and from the wiki's revision histories (human edits: neither the bridge's own nor
those of accounts in the group `bot`), read only for pages whose latest revision is newer than
the one read before. The page is edited only when its text changed, the chart uploaded as a new
version only when its bytes changed, and the whole at most once per `report_interval`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import structlog

from bridge.adapters.state.ports import ReportLedger
from bridge.adapters.state.store import PageHistory
from bridge.adapters.wiki_report import ReportWiki
from bridge.core.adoption import Report, ThreadActivity, weekly_report
from bridge.core.render.report_page import ReportPage, render_report
from bridge.core.routing import route_of_title
from bridge.errors import WikiError, WikiUnavailableError
from bridge.service.config import MailboxSettings
from bridge.service.config.reporting import default_report_title

log = structlog.get_logger("bridge.service.report")

REPORT_MARKER = "<!-- email-wiki-bridge: adoption report -->"


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """What a run did for one report: its figures, whether its page was edited and its chart uploaded."""

    space: ReportSpace
    report: Report
    page_edited: bool
    chart_uploaded: bool


def chart_name(report_title: str) -> str:
    """The chart's stable file name, made from the report page's title (one chart per report)."""
    return f"{report_title.replace('/', '-').replace(':', '-')} chart.png"


def due(ran_at: str | None, interval_seconds: int, now: datetime) -> bool:
    """Tell whether a page last brought up to date at `ran_at` (ISO 8601) is due again at `now`."""
    return ran_at is None or datetime.fromisoformat(ran_at) + timedelta(seconds=interval_seconds) <= now


def human_edits(titles: Sequence[str], state: ReportLedger, wiki: ReportWiki) -> dict[str, tuple[str, ...]]:
    """Return the human edit times of each page, reading only histories that grew since the last run."""
    known = state.page_histories(titles)
    latest = wiki.latest_revisions(titles)
    grown: dict[str, list[tuple[str, str]]] = {}
    bases: dict[str, tuple[str, ...]] = {}
    for title, revision in latest.items():
        seen = known.get(title)
        if seen is not None and seen.last_revision == revision:
            continue
        # A history that went back (the page was deleted and made again) is read whole.
        kept = seen is not None and seen.last_revision < revision
        after = seen.last_revision if seen is not None and kept else 0
        bases[title] = seen.human_edits if seen is not None and kept else ()
        revisions = wiki.revisions_after(title, after, wiki.username)
        grown[title] = [(r.user, r.timestamp) for r in revisions]
    bots = wiki.bots(user for found in grown.values() for user, _ in found)
    updated = {
        title: PageHistory(
            latest[title], bases[title] + tuple(stamp for user, stamp in found if user not in bots)
        )
        for title, found in grown.items()
    }
    if updated:
        state.save_page_histories(updated)
    log.info("report.histories", pages=len(latest), read=len(updated))
    edits = {title: history.human_edits for title, history in known.items()}
    edits.update({title: history.human_edits for title, history in updated.items()})
    return edits


def _moments(stamps: Sequence[str]) -> tuple[datetime, ...]:
    return tuple(datetime.fromisoformat(stamp) for stamp in stamps)


@dataclass(frozen=True, slots=True)
class ReportSpace:
    """One report of a mapping: of its own space (`route` None) or of one of its routes."""

    route: str | None
    settings: MailboxSettings  # the mapping's settings as the route's pages are published with
    title: str  # the report page

    @property
    def label(self) -> str:
        """The mapping, and the route when it is one: how the page and the command name the report."""
        return self.settings.name if self.route is None else f"{self.settings.name}/{self.route}"


def report_spaces(mailbox: MailboxSettings) -> list[ReportSpace]:
    """The reports of `mailbox`: its own space's, then one per route, under the route's prefix."""
    spaces = [ReportSpace(None, mailbox, mailbox.report_title)]
    for route in mailbox.routes:
        settings = mailbox.for_route(route.name)
        title = default_report_title(settings.space.page_prefix, settings.space.language)
        spaces.append(ReportSpace(route.name, settings, title))
    return spaces


def gather(
    mailbox: MailboxSettings, state: ReportLedger, wiki: ReportWiki, now: datetime
) -> list[tuple[ReportSpace, Report]]:
    """Compute the reports of `mailbox` as of `now` (reads the store and the wiki; writes the cache).

    Each thread counts in the space its page is in (its route, by the page's prefix). A mapping
    with routes gets a report of its own space only when threads were published there.
    """
    records = state.report_threads(mailbox.name)
    edits = human_edits([title for record in records for title in record.titles], state, wiki)
    threads: dict[str | None, list[ThreadActivity]] = {}
    for record in records:
        route = route_of_title(record.titles[0], mailbox.route_rules)
        threads.setdefault(route, []).append(
            ThreadActivity(
                title=record.titles[0],
                mails=_moments(record.mails),
                link_reply=datetime.fromisoformat(record.link_reply) if record.link_reply else None,
                human_edits=_moments([stamp for title in record.titles for stamp in edits.get(title, ())]),
            )
        )
    zone = ZoneInfo(mailbox.reporting.report_timezone)
    return [
        (space, weekly_report(threads.get(space.route, []), now, zone))
        for space in report_spaces(mailbox)
        if space.route is not None or not mailbox.routes or threads.get(None)
    ]


def _publish(space: ReportSpace, report: Report, wiki: ReportWiki) -> ReportOutcome:
    """Bring one report page (and its chart) up to date: each only when it changed."""
    language = space.settings.space.language
    chart: str | None = None
    uploaded = False
    if "upload" in wiki.rights:
        # matplotlib takes a moment to load: only when a chart is drawn.
        from bridge.core.render.chart import render_chart

        chart = chart_name(space.title)
        try:
            png = render_chart(report.weeks, language)
            uploaded = wiki.upload_version(chart, png, "Adoption report chart")
        except WikiUnavailableError:
            raise
        except WikiError as exc:
            # No right to replace files, say: the figures still go on the page, the old chart stays.
            log.warning("report.chart_not_uploaded", mailbox=space.label, page=space.title, error=str(exc))
    page = ReportPage(space.label, space.settings.reporting.report_timezone, language, chart)
    text = render_report(report, page, space.settings.space.page_prefix)
    edited = wiki.put_own_page(space.title, f"{REPORT_MARKER}\n{text}", REPORT_MARKER, "Adoption report")
    log.info("report.updated", mailbox=space.label, page=space.title, edited=edited, chart_uploaded=uploaded)
    return ReportOutcome(space, report, edited, uploaded)


def publish_report(
    mailbox: MailboxSettings,
    state: ReportLedger,
    wiki: ReportWiki,
    now: datetime | None = None,
    force: bool = False,
) -> list[ReportOutcome] | None:
    """Bring the report pages and charts of `mailbox` (and its routes) up to date when due (or
    `force`d); None when not due."""
    moment = now or datetime.now(UTC)
    key = mailbox.report_title  # one interval for all reports of the mapping
    if not force and not due(state.report_ran(key), mailbox.reporting.report_interval, moment):
        return None
    outcomes = [_publish(space, report, wiki) for space, report in gather(mailbox, state, wiki, moment)]
    state.record_report_run(key)
    return outcomes
