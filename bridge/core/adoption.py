"""The adoption report's figures (pure): does the discussion of published threads move to the wiki?

The input is one `ThreadActivity` per thread (when its mails were published, when its first link
reply went out, when people edited its pages); the output is a `Report` of weekly buckets
(weeks start on Monday in the report's time zone; weeks without activity are rows of zeros),
the share "continued on the wiki" and its trend, the most active pages and the threads that
keep going by mail.

A thread's follow-ups are what happened after its first link reply told the senders where the
page is, or, for a thread that got no link reply (replies off or suppressed), after its first
mail made the page: mails are discussion still in mail, human edits discussion in the wiki.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

WEEKS = 12
TREND_WEEKS = 4  # the latest weeks compared with as many before them
TREND_POINTS = 5.0  # a change of the share smaller than this (in percentage points) is "flat"
TOP_PAGES = 10
STILL_BY_MAIL_MIN = 2  # follow-up mails in the period before a thread is a candidate for a nudge


@dataclass(frozen=True, slots=True)
class ThreadActivity:
    """What happened to one thread: its page, its mails, its first link reply, its human edits."""

    title: str
    mails: tuple[datetime, ...]
    link_reply: datetime | None
    human_edits: tuple[datetime, ...]

    @property
    def since(self) -> datetime | None:
        """From when on mails and edits count as follow-ups: the first link reply, else the first mail."""
        return self.link_reply or min(self.mails, default=None)

    def follow_ups(self) -> tuple[datetime, ...]:
        """The mails that arrived after the thread's page was announced (or made)."""
        since = self.since
        return tuple(moment for moment in self.mails if since is not None and moment > since)


@dataclass(frozen=True, slots=True)
class Week:
    """One week's figures (`start` is its Monday in the report's time zone)."""

    start: date
    mails: int = 0
    new_threads: int = 0
    pages_edited: int = 0
    human_edits: int = 0
    follow_up_mails: int = 0
    median_to_first_edit: timedelta | None = None

    @property
    def share(self) -> float | None:
        """The share of follow-ups made on the wiki (0…1), None in a week without any."""
        return _share(self.human_edits, self.follow_up_mails)


class Trend(StrEnum):
    """Where the share "continued on the wiki" is heading."""

    UP = "up"
    DOWN = "down"
    FLAT = "flat"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class PageCount:
    """A thread page with its activity in the period: mails and human edits, or follow-ups."""

    title: str
    mails: int
    human_edits: int


@dataclass(frozen=True, slots=True)
class Report:
    """The report of one mapping: weeks oldest first, the trend, the top pages, the nudge candidates."""

    weeks: tuple[Week, ...]
    trend: Trend
    trend_points: float | None  # the latest weeks' share minus the earlier weeks', in points
    top_pages: tuple[PageCount, ...]
    still_by_mail: tuple[PageCount, ...]

    @property
    def share(self) -> float | None:
        """The share "continued on the wiki" over the whole period."""
        return _share(sum(w.human_edits for w in self.weeks), sum(w.follow_up_mails for w in self.weeks))


def _share(on_wiki: int, by_mail: int) -> float | None:
    total = on_wiki + by_mail
    return on_wiki / total if total else None


def week_start(moment: datetime, zone: ZoneInfo) -> date:
    """Return the Monday of the week `moment` falls in, in `zone` (aware datetimes only)."""
    local = moment.astimezone(zone).date()
    return local - timedelta(days=local.weekday())


def weekly_report(
    threads: Iterable[ThreadActivity], now: datetime, zone: ZoneInfo, weeks: int = WEEKS
) -> Report:
    """Sum up `threads` in the `weeks` weeks up to the one holding `now`.

    A thread counts as new in the week of its first mail; the time to its first human edit
    counts in the week of that edit (known once it happened, never changed later).
    """
    current = week_start(now, zone)
    period = _Period(zone, [current - timedelta(weeks=back) for back in range(weeks - 1, -1, -1)])
    top: list[PageCount] = []
    nudge: list[PageCount] = []
    for thread in threads:
        mails = period.count(thread.mails, "mails")
        edits = period.count(thread.human_edits, "human_edits")
        follow_ups = period.count(thread.follow_ups(), "follow_up_mails")
        # One page edited per week, however often.
        period.count({week_start(e, zone): e for e in edits}.values(), "pages_edited")
        if thread.mails:
            period.count((min(thread.mails),), "new_threads")
            if thread.human_edits:
                first_edit = min(thread.human_edits)
                week = period.week(first_edit)
                if week is not None:
                    week.to_first_edit.append(max(first_edit - min(thread.mails), timedelta(0)))
        if mails or edits:
            top.append(PageCount(thread.title, len(mails), len(edits)))
        if len(follow_ups) >= STILL_BY_MAIL_MIN and len(follow_ups) > len(edits):
            nudge.append(PageCount(thread.title, len(follow_ups), len(edits)))
    rows = period.rows()
    trend, points = _trend(rows)
    top.sort(key=lambda page: (-(page.mails + page.human_edits), page.title))
    nudge.sort(key=lambda page: (-page.mails, page.title))
    return Report(rows, trend, points, tuple(top[:TOP_PAGES]), tuple(nudge[:TOP_PAGES]))


@dataclass(slots=True)
class _Counts:
    """A week's counters while the threads are summed up."""

    mails: int = 0
    new_threads: int = 0
    pages_edited: int = 0
    human_edits: int = 0
    follow_up_mails: int = 0
    to_first_edit: list[timedelta] = field(default_factory=list)


class _Period:
    """The report's weeks and their counters, found by moment."""

    def __init__(self, zone: ZoneInfo, starts: Sequence[date]) -> None:
        self.zone = zone
        self.starts = list(starts)
        self.counters = {start: _Counts() for start in starts}

    def week(self, moment: datetime) -> _Counts | None:
        """The counters of the week holding `moment`, None outside the period."""
        return self.counters.get(week_start(moment, self.zone))

    def count(self, moments: Iterable[datetime], counter: str) -> list[datetime]:
        """Count each of `moments` inside the period in its week's `counter`; return those counted."""
        counted = []
        for moment in moments:
            week = self.week(moment)
            if week is not None:
                setattr(week, counter, getattr(week, counter) + 1)
                counted.append(moment)
        return counted

    def rows(self) -> tuple[Week, ...]:
        """The weeks' figures, oldest first."""
        return tuple(
            Week(
                start=start,
                mails=c.mails,
                new_threads=c.new_threads,
                pages_edited=c.pages_edited,
                human_edits=c.human_edits,
                follow_up_mails=c.follow_up_mails,
                median_to_first_edit=_median(c.to_first_edit),
            )
            for start, c in ((start, self.counters[start]) for start in self.starts)
        )


def _median(durations: Sequence[timedelta]) -> timedelta | None:
    ordered = sorted(durations)
    if not ordered:
        return None
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _trend(weeks: Sequence[Week]) -> tuple[Trend, float | None]:
    """Compare the share of the latest `TREND_WEEKS` weeks with the share of as many before them."""
    recent, earlier = weeks[-TREND_WEEKS:], weeks[-2 * TREND_WEEKS : -TREND_WEEKS]
    now_share = _share(sum(w.human_edits for w in recent), sum(w.follow_up_mails for w in recent))
    then_share = _share(sum(w.human_edits for w in earlier), sum(w.follow_up_mails for w in earlier))
    if now_share is None or then_share is None:
        return Trend.UNKNOWN, None
    points = round((now_share - then_share) * 100, 1)
    if points >= TREND_POINTS:
        return Trend.UP, points
    if points <= -TREND_POINTS:
        return Trend.DOWN, points
    return Trend.FLAT, points
