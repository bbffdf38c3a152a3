"""The reporting commands: `status` and `failures list|retry` (read the state without its lock).

`failures retry` makes one small write that the running daemon picks up on its next pass, so it
needs no lock either: SQLite keeps the two writers apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from bridge.adapters.state.ports import FailureDesk, LeaseReader, StatusReader
from bridge.adapters.state.store import Failure, LeaseRow, MailboxStatus, ReplyCounts
from bridge.core.render.escape import single_line
from bridge.core.routing import route_of_title
from bridge.service.config import MailboxSettings, Settings
from bridge.service.exitcodes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK


def failing(row: MailboxStatus) -> bool:
    """Tell whether a mailbox's passes abort: its last error is newer than its last success."""
    if row.last_error_at is None:
        return False
    return row.last_success is None or row.last_error_at > row.last_success


def _health(row: MailboxStatus) -> str:
    if failing(row):
        return "FAILING"
    return "ok" if row.last_success else "not run yet"


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a table with columns padded to their widest cell."""
    table = [tuple(header), *(tuple(row) for row in rows)]
    widths = [max(len(line[column]) for line in table) for column in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def route_counts(mailbox: MailboxSettings, state: StatusReader) -> dict[str, int]:
    """Published mail per route of `mailbox` (by the prefix of its page), "" for the mailbox's own space."""
    counts = dict.fromkeys(["", *(route.name for route in mailbox.routes)], 0)
    for title, count in state.published_per_page(mailbox.name).items():
        route = route_of_title(title, mailbox.route_rules) or ""
        counts[route] += count
    return counts


STATUS_HEADER = (
    "MAILBOX",
    "HEALTH",
    "LAST SUCCESS",
    "LAST ERROR",
    "BACKLOG",
    "PAGES",
    "PUBLISHED",
    "REPLIED",
    "SUPPRESSED(EXTERNAL)",
    "QUARANTINED",
    "FAILED",
    "PARKED",
)


def status_rows(rows: Sequence[MailboxStatus], replies: Sequence[ReplyCounts]) -> list[tuple[str, ...]]:
    """The cells of the `status` table (also shown on the status page), one row per mailbox.

    `replies` are the mailboxes' reply counts: sent, suppressed (external ones in brackets).
    """
    return [
        (
            row.mailbox,
            _health(row),
            row.last_success or "never",
            f"{row.last_error_at}: {row.last_error}" if row.last_error else "-",
            "?" if row.backlog is None else str(row.backlog),
            str(row.pages),
            str(row.published),
            str(counts.sent),
            f"{counts.suppressed}({counts.external})",
            str(row.quarantined),
            str(row.failed),
            str(row.parked),
        )
        for row, counts in zip(rows, replies, strict=True)
    ]


class StatusDesk(StatusReader, LeaseReader, Protocol):
    """What `status` reads: each mailbox's summary and its lease."""


def stamp(seconds: float | None) -> str | None:
    """Unix seconds (the database's clock) as the store's ISO 8601 UTC timestamp."""
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")


def _lease_json(lease: LeaseRow | None) -> dict[str, Any] | None:
    if lease is None or lease.holder is None:
        return None
    return {
        "holder": lease.holder,
        "token": lease.token,
        "since": stamp(lease.since),
        "expires_at": stamp(lease.expires_at),
        "valid": lease.valid,
    }


def _lease_cells(lease: LeaseRow | None) -> tuple[str, str]:
    """HOLDER and LEASED SINCE: who works the mailbox, since when ("-" while nobody holds it)."""
    if lease is None or lease.holder is None:
        return "-", "-"
    holder = lease.holder if lease.valid else f"{lease.holder} (expired)"
    return holder, stamp(lease.since) or "-"


def status_table(settings: Settings, state: StatusDesk) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The `status` table (header, a row per mailbox): as `status` prints it, as the status page shows it."""
    leases = {lease.mailbox: lease for lease in state.leases()}
    rows = [state.mailbox_status(mailbox.name) for mailbox in settings.mailboxes]
    replies = [state.reply_counts(mailbox.name) for mailbox in settings.mailboxes]
    header = (*STATUS_HEADER[:2], "HOLDER", "LEASED SINCE", *STATUS_HEADER[2:])
    cells = status_rows(rows, replies)
    return header, [(*line[:2], *_lease_cells(leases.get(line[0])), *line[2:]) for line in cells]


def status(settings: Settings, state: StatusDesk, as_json: bool) -> int:
    """Print per mailbox: health, lease holder and since, last pass and error, backlog, pages, mail counts.

    Mailboxes with routes get a second table: the mail published per route.
    """
    leases = {lease.mailbox: lease for lease in state.leases()}
    routes = {m.name: route_counts(m, state) for m in settings.mailboxes if m.routes}
    if as_json:
        rows = [state.mailbox_status(mailbox.name) for mailbox in settings.mailboxes]
        replies = [state.reply_counts(mailbox.name) for mailbox in settings.mailboxes]
        print(
            json.dumps(
                [
                    {
                        **dataclasses.asdict(row),
                        "failing": failing(row),
                        "lease": _lease_json(leases.get(row.mailbox)),
                        "routes": routes.get(row.mailbox, {}),
                        "replies": dataclasses.asdict(counts),
                    }
                    for row, counts in zip(rows, replies, strict=True)
                ],
                indent=2,
            )
        )
        return EXIT_OK
    print_table(*status_table(settings, state))
    if routes:
        print()
        print_table(
            ("MAILBOX", "ROUTE", "PUBLISHED"),
            [
                (name, route or "(own page_prefix)", str(count))
                for name, counts in routes.items()
                for route, count in counts.items()
            ],
        )
    return EXIT_OK


def _mailbox_names(settings: Settings, name: str | None) -> list[str] | None:
    names = [mailbox.name for mailbox in settings.mailboxes]
    if name is None:
        return names
    if name not in names:
        print(f"email-wiki-bridge: no mailbox named {name!r} in the config", file=sys.stderr)
        return None
    return [name]


def _next_try(failure: Failure) -> str:
    if failure.parked:
        return "parked"
    return f"next try {failure.next_attempt_at}" if failure.next_attempt_at else "next pass"


def failures(settings: Settings, state: FailureDesk, args: argparse.Namespace) -> int:
    """`failures list`: every recorded failure; `failures retry`: make them due on the next pass."""
    names = _mailbox_names(settings, args.mailbox)
    if names is None:
        return EXIT_CONFIG
    if args.action == "retry":
        count = state.retry_failures(args.mailbox, args.message_id)
        if not count:
            what = f"no failed mail {args.message_id!r}" if args.message_id else "no failed mail"
            print(f"email-wiki-bridge: {what} in mailbox {args.mailbox!r}", file=sys.stderr)
            return EXIT_FAILED
        print(f"{count} failed mail(s) of {args.mailbox} will be tried again on its next pass")
        return EXIT_OK
    found = [failure for name in names for failure in state.failures(name)]
    if args.json:
        print(json.dumps([dataclasses.asdict(failure) for failure in found], indent=2))
        return EXIT_OK
    if not found:
        print("no failed mail")
        return EXIT_OK
    print_table(
        ("MAILBOX", "FOLDER", "UID", "MESSAGE-ID", "ATTEMPTS", "STATUS", "LAST TRY", "REASON"),
        [
            (
                f.mailbox,
                f.folder,
                str(f.uid),
                f.message_id or "-",
                str(f.attempts),
                _next_try(f),
                f.last_seen,
                single_line(f.reason),
            )
            for f in found
        ],
    )
    return EXIT_OK
