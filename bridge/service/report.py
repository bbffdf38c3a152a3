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
from bridge.errors import WikiError, WikiUnavailableError
from bridge.service.config import MailboxSettings

log = structlog.get_logger("bridge.service.report")

REPORT_MARKER = "<!-- email-wiki-bridge: adoption report -->"


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    """What a report run did: the figures, whether the page was edited and the chart uploaded."""

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


def gather(mailbox: MailboxSettings, state: ReportLedger, wiki: ReportWiki, now: datetime) -> Report:
    """Compute the report of `mailbox` as of `now` (reads the store and the wiki; writes the cache)."""
    records = state.report_threads(mailbox.name)
    edits = human_edits([title for record in records for title in record.titles], state, wiki)
    threads = [
        ThreadActivity(
            title=record.titles[0],
            mails=_moments(record.mails),
            link_reply=datetime.fromisoformat(record.link_reply) if record.link_reply else None,
            human_edits=_moments([stamp for title in record.titles for stamp in edits.get(title, ())]),
        )
        for record in records
    ]
    return weekly_report(threads, now, ZoneInfo(mailbox.reporting.report_timezone))


def publish_report(
    mailbox: MailboxSettings,
    state: ReportLedger,
    wiki: ReportWiki,
    now: datetime | None = None,
    force: bool = False,
) -> ReportOutcome | None:
    """Bring the report page and chart of `mailbox` up to date when due (or `force`d); None when not due."""
    moment = now or datetime.now(UTC)
    title = mailbox.report_title
    if not force and not due(state.report_ran(title), mailbox.reporting.report_interval, moment):
        return None
    report = gather(mailbox, state, wiki, moment)
    language = mailbox.space.language
    chart: str | None = None
    uploaded = False
    if "upload" in wiki.rights:
        # matplotlib takes a moment to load: only when a chart is drawn.
        from bridge.core.render.chart import render_chart

        chart = chart_name(title)
        try:
            png = render_chart(report.weeks, language)
            uploaded = wiki.upload_version(chart, png, "Adoption report chart")
        except WikiUnavailableError:
            raise
        except WikiError as exc:
            # No right to replace files, say: the figures still go on the page, the old chart stays.
            log.warning("report.chart_not_uploaded", mailbox=mailbox.name, page=title, error=str(exc))
    zone = mailbox.reporting.report_timezone
    text = render_report(report, ReportPage(mailbox.name, zone, language, chart), mailbox.space.page_prefix)
    edited = wiki.put_own_page(title, f"{REPORT_MARKER}\n{text}", REPORT_MARKER, "Adoption report")
    state.record_report_run(title)
    log.info("report.updated", mailbox=mailbox.name, page=title, edited=edited, chart_uploaded=uploaded)
    return ReportOutcome(report, edited, uploaded)
