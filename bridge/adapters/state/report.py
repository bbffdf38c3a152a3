"""What the adoption report reads from the state store, and the two things it keeps there.

It reads each thread's pages (continuation parts joined to their first part), when its mails
were published and when its first link reply was sent. It keeps the human edits found in each
page's revision history up to the last revision read (`page_history`), so a daily run reads
only pages that changed, and when each report or status page was last brought up to date
(`report_runs`), for their intervals. Part of every state store, in the SQL both backends share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bridge.adapters.state.sql import StateConnection, chunks, now, placeholders
from bridge.adapters.state.statuses import MessageStatus, ReplyKind, ReplyStatus


@dataclass(frozen=True, slots=True)
class ThreadRecord:
    """One thread as the report sees it: its pages (first part first), mail times, first link reply.

    Times are the store's ISO 8601 UTC timestamps: when each mail was published (confirmed on
    the wiki), when the thread's first link reply was sent.
    """

    titles: tuple[str, ...]
    mails: tuple[str, ...]
    link_reply: str | None


@dataclass(frozen=True, slots=True)
class PageHistory:
    """The human edits of a page (ISO 8601 UTC times) found up to revision `last_revision`."""

    last_revision: int
    human_edits: tuple[str, ...]


class ReportTables(StateConnection):
    """The report's reads of the ledger, and its `page_history` and `report_runs` rows."""

    def report_threads(self, mailbox: str) -> list[ThreadRecord]:
        """Return every thread of `mailbox` that has a page, with its mail times and first link reply."""
        pages = self._query(
            "SELECT t.id, COALESCE(p.first_id, t.id), t.page_title, COALESCE(p.part, 1) FROM threads t "
            "LEFT JOIN thread_parts p ON p.thread_id = t.id "
            "WHERE t.mailbox = ? AND t.page_title IS NOT NULL ORDER BY 2, 4",
            (mailbox,),
        )
        first_of = {int(str(row[0])): int(str(row[1])) for row in pages}
        titles: dict[int, list[str]] = {}
        for _, first, title, _ in pages:
            titles.setdefault(int(str(first)), []).append(str(title))
        mails: dict[int, list[str]] = {}
        for thread_id, published_at in self._query(
            "SELECT thread_id, published_at FROM messages WHERE mailbox = ? "  # noqa: S608 - constant SQL
            f"AND status = '{MessageStatus.DONE}' AND published_at IS NOT NULL ORDER BY published_at",
            (mailbox,),
        ):
            first = first_of.get(int(str(thread_id)))
            if first is not None:
                mails.setdefault(first, []).append(str(published_at))
        replies: dict[int, str] = {}
        for thread_id, sent_at in self._query(
            "SELECT thread_id, MIN(sent_at) FROM replies WHERE mailbox = ? "  # noqa: S608 - constant SQL
            f"AND kind = '{ReplyKind.LINK}' AND status = '{ReplyStatus.SENT}' AND sent_at IS NOT NULL "
            "AND thread_id IS NOT NULL GROUP BY thread_id",
            (mailbox,),
        ):
            first = first_of.get(int(str(thread_id)))
            if first is not None and (first not in replies or str(sent_at) < replies[first]):
                replies[first] = str(sent_at)
        return [
            ThreadRecord(tuple(pages_of), tuple(mails.get(first, ())), replies.get(first))
            for first, pages_of in titles.items()
        ]

    def page_histories(self, titles: Iterable[str]) -> dict[str, PageHistory]:
        """Return what is known of the human edits of those of `titles` read before."""
        found: dict[str, PageHistory] = {}
        for chunk in chunks(titles):
            rows = self._query(
                "SELECT page_title, last_revision, human_edits FROM page_history "  # noqa: S608 - only placeholders are interpolated
                f"WHERE page_title IN ({placeholders(chunk)})",
                chunk,
            )
            for title, revision, edits in rows:
                found[str(title)] = PageHistory(int(str(revision)), tuple(str(edits).split()))
        return found

    def save_page_histories(self, histories: Mapping[str, PageHistory]) -> None:
        """Record the human edits of pages read up to their latest revision (one transaction)."""
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO page_history (page_title, last_revision, human_edits) VALUES (?, ?, ?) "
                "ON CONFLICT (page_title) DO UPDATE SET last_revision = excluded.last_revision, "
                "human_edits = excluded.human_edits",
                [
                    (title, history.last_revision, " ".join(history.human_edits))
                    for title, history in histories.items()
                ],
            )

    def report_ran(self, page_title: str) -> str | None:
        """When the report or status page `page_title` was last brought up to date (ISO 8601 UTC)."""
        rows = self._query("SELECT ran_at FROM report_runs WHERE page_title = ?", (page_title,))
        return str(rows[0][0]) if rows else None

    def record_report_run(self, page_title: str) -> None:
        """Record that the report or status page `page_title` is up to date as of now."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO report_runs (page_title, ran_at) VALUES (?, ?) "
                "ON CONFLICT (page_title) DO UPDATE SET ran_at = excluded.ran_at",
                (page_title, now()),
            )
