"""The pages the bridge keeps on the wiki after its passes: the status page and each mapping's report.

The status page shows the table `email-wiki-bridge status` prints (per mailbox: health, last
success, last error, backlog, pages, published, quarantined, failed, parked), for the people
who look at the wiki and have no shell. It is written at most every `status_interval` and only
when its text changed; a failing mailbox shows there within that interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

import structlog

from bridge.adapters.state.ports import ReportLedger
from bridge.adapters.wiki_report import ReportWiki
from bridge.core.render.escape import escape_inline, single_line
from bridge.service.cli_status import StatusDesk, status_table
from bridge.service.config import MailboxSettings, Settings
from bridge.service.report import due, publish_report

log = structlog.get_logger("bridge.service.status_page")

STATUS_MARKER = "<!-- email-wiki-bridge: status -->"


class PageState(StatusDesk, ReportLedger, Protocol):
    """What keeping the status and report pages reads and records in the state store."""


def render_status(header: Sequence[str], rows: Sequence[Sequence[str]], interval_seconds: int) -> str:
    """The status page's wikitext: a short note and the `status` table, every cell escaped."""
    minutes = max(1, round(interval_seconds / 60))
    lines = [
        STATUS_MARKER,
        f"''The mailboxes of email-wiki-bridge, as `email-wiki-bridge status` shows them; "
        f"updated after the passes, at most every {minutes} minutes. Times are UTC.''",
        "",
        '{| class="wikitable"',
        "! " + " !! ".join(escape_inline(cell) for cell in header),
    ]
    for row in rows:
        lines.extend(("|-", "| " + " || ".join(escape_inline(single_line(cell)) for cell in row)))
    lines.append("|}")
    return "\n".join(lines) + "\n"


def publish_status(settings: Settings, state: PageState, wiki: ReportWiki, now: datetime) -> bool | None:
    """Bring the status page up to date when due; None when not due (or none is configured)."""
    title = settings.service.status_page
    if title is None or not due(state.report_ran(title), settings.service.status_interval, now):
        return None
    header, rows = status_table(settings, state)
    text = render_status(header, rows, settings.service.status_interval)
    edited = wiki.put_own_page(title, text, STATUS_MARKER, "Mail bridge status")
    state.record_report_run(title)
    log.info("status_page.updated", page=title, edited=edited)
    return edited


def after_pass(mailbox: MailboxSettings, settings: Settings, state: PageState, passed: bool) -> None:
    """After a pass of `mailbox`: the status page when due, its report when due after a successful pass.

    Neither may fail the pass or the daemon: a failure is logged and tried again after the next pass.
    """
    wiki = ReportWiki(settings.wiki)
    now = datetime.now(UTC)
    try:
        try:
            publish_status(settings, state, wiki, now)
        except Exception as exc:  # the status page must never stop the passes
            log.error("status_page.failed", error=str(exc), kind=type(exc).__name__)
        if passed and mailbox.reporting.report:
            try:
                publish_report(mailbox, state, wiki, now)
            except Exception as exc:  # the report must never stop the passes
                log.error("report.failed", mailbox=mailbox.name, error=str(exc), kind=type(exc).__name__)
    finally:
        wiki.close()
