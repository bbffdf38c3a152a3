"""`email-wiki-bridge report [--mailbox NAME] [--print]`: the adoption report on demand.

Without `--print` each mapping's report pages (its own and one per route) and charts are brought
up to date now (edited only when they changed); with it the reports are printed as tables and
nothing is written to the wiki.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from bridge.adapters.state.ports import ReportLedger
from bridge.adapters.wiki_report import ReportWiki
from bridge.core.adoption import PageCount, Report
from bridge.core.render.escape import single_line
from bridge.core.render.report_page import headline, text, trend_sentence, week_cells, week_header
from bridge.errors import BridgeError
from bridge.service.cli_status import print_table
from bridge.service.config import Settings
from bridge.service.exitcodes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from bridge.service.report import ReportSpace, gather, publish_report


def _print_pages(title: str, pages: tuple[PageCount, ...], language: str, mails_key: str) -> None:
    print(f"\n{title}")
    if not pages:
        print(text(language, "none"))
        return
    header = (text(language, "page"), text(language, mails_key), text(language, "human_edits"))
    print_table(header, [(single_line(p.title), str(p.mails), str(p.human_edits)) for p in pages])


def print_report(space: ReportSpace, report: Report) -> None:
    """Print one report: headline and trend, the weeks (newest first), top pages, nudges."""
    language = space.settings.space.language
    # The page's wiki markup for bold is of no use on a terminal.
    print(f"{space.label}: {headline(report, language).replace(chr(39) * 3, '')}")
    print(trend_sentence(report, language))
    print()
    print_table(week_header(language), [week_cells(week, language) for week in reversed(report.weeks)])
    _print_pages(text(language, "top"), report.top_pages, language, "mails")
    _print_pages(text(language, "still"), report.still_by_mail, language, "follow_ups")


def report_command(settings: Settings, state: ReportLedger, args: argparse.Namespace) -> int:
    """Compute the report of each mapping with `report = true` (or of the one named): print it, or
    bring its page up to date."""
    if args.mailbox is None:
        # Without a name, the mappings that keep a report; a named one is reported on demand.
        mailboxes = [m for m in settings.mailboxes if m.reporting.report]
    else:
        mailboxes = [m for m in settings.mailboxes if m.name == args.mailbox]
        if not mailboxes:
            print(f"email-wiki-bridge: no mailbox named {args.mailbox!r} in the config", file=sys.stderr)
            return EXIT_CONFIG
    if not mailboxes:
        print("no mapping keeps a report (report = false everywhere); name one with --mailbox")
    exit_code = EXIT_OK
    position = 0  # reports printed so far, to separate them
    for mailbox in mailboxes:
        wiki = ReportWiki(settings.wiki)
        try:
            if args.print:
                for space, report in gather(mailbox, state, wiki, datetime.now(UTC)):
                    if position:
                        print()
                    position += 1
                    print_report(space, report)
                continue
            outcomes = publish_report(mailbox, state, wiki, force=True)
            assert outcomes is not None, "a forced report always runs"
            for outcome in outcomes:
                page = "updated" if outcome.page_edited else "unchanged"
                chart = "new version" if outcome.chart_uploaded else "unchanged"
                print(f"{outcome.space.label}: report {outcome.space.title} {page}, chart {chart}")
        except BridgeError as exc:
            print(f"email-wiki-bridge: the report of {mailbox.name} failed: {exc}", file=sys.stderr)
            exit_code = EXIT_FAILED
        finally:
            wiki.close()
    return exit_code
