"""The adoption report's weekly aggregation: buckets, time zones, follow-ups, medians, trend, lists."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from bridge.core.adoption import (
    STILL_BY_MAIL_MIN,
    TOP_PAGES,
    PageCount,
    ThreadActivity,
    Trend,
    week_start,
    weekly_report,
)

BERLIN = ZoneInfo("Europe/Berlin")
# Monday 30 November 2026, 10:00 UTC: the current week starts on 30 November.
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def at(day: int, hour: int = 10, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


def thread(
    title: str,
    mails: list[datetime],
    link: datetime | None = None,
    edits: list[datetime] | None = None,
) -> ThreadActivity:
    return ThreadActivity(f"P/{title}", tuple(mails), link, tuple(edits or ()))


def test_twelve_weeks_start_on_mondays_and_weeks_without_activity_are_rows_of_zeros() -> None:
    report = weekly_report([], NOW, BERLIN)
    assert len(report.weeks) == 12
    assert report.weeks[-1].start == date(2026, 11, 30)
    assert report.weeks[0].start == date(2026, 9, 14)
    assert all(week.start.weekday() == 0 for week in report.weeks)
    assert all(
        (w.mails, w.new_threads, w.pages_edited, w.human_edits, w.follow_up_mails) == (0, 0, 0, 0, 0)
        for w in report.weeks
    )
    assert all(w.share is None and w.median_to_first_edit is None for w in report.weeks)
    assert (report.trend, report.trend_points, report.share) == (Trend.UNKNOWN, None, None)
    assert report.top_pages == report.still_by_mail == ()


def test_a_sunday_night_in_utc_is_monday_morning_in_berlin() -> None:
    """Sunday 29 November 23:30 UTC is 00:30 on Monday in Berlin: it falls in the new week there."""
    late = datetime(2026, 11, 29, 23, 30, tzinfo=UTC)
    berlin = weekly_report([thread("A", [late])], NOW, BERLIN)
    utc = weekly_report([thread("A", [late])], NOW, ZoneInfo("UTC"))
    assert (berlin.weeks[-1].mails, berlin.weeks[-2].mails) == (1, 0)
    assert (utc.weeks[-1].mails, utc.weeks[-2].mails) == (0, 1)


def test_weeks_follow_the_zone_across_the_change_from_summer_time() -> None:
    """25 October 2026 ends summer time in Berlin: the weeks still start on Monday, local midnight."""
    zone = ZoneInfo("Europe/Berlin")
    before = datetime(2026, 10, 25, 22, 30, tzinfo=UTC)  # 23:30 on Sunday after the change (UTC+1)
    after = datetime(2026, 10, 25, 23, 30, tzinfo=UTC)  # 00:30 on Monday 26 October
    assert week_start(before, zone) == date(2026, 10, 19)
    assert week_start(after, zone) == date(2026, 10, 26)
    assert week_start(datetime(2026, 3, 29, 22, 30, tzinfo=UTC), zone) == date(2026, 3, 30)


def test_a_far_east_zone_moves_a_monday_morning_in_utc_forward_not_back() -> None:
    sunday_evening = datetime(2026, 11, 29, 16, 0, tzinfo=UTC)  # Monday 05:00 in Tokyo
    assert week_start(sunday_evening, ZoneInfo("Asia/Tokyo")) == date(2026, 11, 30)
    assert week_start(sunday_evening, ZoneInfo("America/New_York")) == date(2026, 11, 23)


def test_mails_new_threads_and_follow_ups_after_the_link_reply() -> None:
    started = at(17)
    link = started + timedelta(seconds=5)
    activity = thread("Budget", [started, at(18), at(24), at(30)], link=link)
    report = weekly_report([activity], NOW, BERLIN)
    last, previous, earlier = report.weeks[-1], report.weeks[-2], report.weeks[-3]
    assert (earlier.mails, earlier.new_threads, earlier.follow_up_mails) == (2, 1, 1)
    assert (previous.mails, previous.new_threads, previous.follow_up_mails) == (1, 0, 1)
    assert (last.mails, last.new_threads, last.follow_up_mails) == (1, 0, 1)


def test_a_thread_without_link_reply_counts_follow_ups_after_its_first_mail() -> None:
    """Replies off (or suppressed): the page existed from the first mail on."""
    report = weekly_report([thread("Quiet", [at(30, 8), at(30, 9), at(30, 10)])], NOW, BERLIN)
    assert report.weeks[-1].follow_up_mails == 2


def test_mail_before_the_link_reply_is_no_follow_up() -> None:
    link = at(30, 9)
    report = weekly_report([thread("Early", [at(30, 8), at(30, 8), at(30, 10)], link=link)], NOW, BERLIN)
    assert report.weeks[-1].follow_up_mails == 1


def test_human_edits_pages_edited_share_and_median_to_the_first_edit() -> None:
    a = thread("A", [at(30, 8)], edits=[at(30, 9), at(30, 9), at(30, 10)])
    b = thread("B", [at(30, 6)], edits=[at(30, 10)])
    c = thread("C", [at(30, 8), at(30, 9), at(30, 10)])
    week = weekly_report([a, b, c], NOW, BERLIN).weeks[-1]
    assert (week.human_edits, week.pages_edited, week.follow_up_mails) == (4, 2, 2)
    assert week.share == 4 / 6
    # A: 1 hour to its first edit, B: 4 hours; the median of two is their mean.
    assert week.median_to_first_edit == timedelta(hours=2, minutes=30)


def test_the_time_to_the_first_edit_counts_in_the_week_of_that_edit_only() -> None:
    activity = thread("Slow", [at(16)], edits=[at(24), at(30)])
    report = weekly_report([activity], NOW, BERLIN)
    assert report.weeks[-2].median_to_first_edit == timedelta(days=8)
    assert report.weeks[-1].median_to_first_edit is None
    assert report.weeks[-3].median_to_first_edit is None


def test_median_of_an_odd_count_is_the_middle_one() -> None:
    threads = [thread(str(n), [at(30, 1)], edits=[at(30, 1 + n)]) for n in (1, 2, 7)]
    assert weekly_report(threads, NOW, BERLIN).weeks[-1].median_to_first_edit == timedelta(hours=2)


def test_activity_outside_the_period_is_left_out_but_still_makes_old_threads_old() -> None:
    old = thread("Old", [at(1, month=6), at(30)], edits=[at(2, month=6)])
    report = weekly_report([old], NOW, BERLIN)
    assert sum(w.new_threads for w in report.weeks) == 0
    assert sum(w.mails for w in report.weeks) == 1
    assert sum(w.human_edits for w in report.weeks) == 0
    assert report.weeks[-1].median_to_first_edit is None
    assert report.top_pages == (PageCount("P/Old", 1, 0),)


def _share_weeks(edits: int, mails: int, first_day: int, month: int) -> ThreadActivity:
    moments = [datetime(2026, month, first_day, 9, tzinfo=UTC) + timedelta(weeks=n) for n in range(4)]
    return ThreadActivity(
        f"P/{first_day}-{month}",
        (moments[0] - timedelta(hours=1), *[m for m in moments for _ in range(mails)]),
        moments[0] - timedelta(minutes=30),
        tuple(m for m in moments for _ in range(edits)),
    )


def test_trend_compares_the_last_four_weeks_with_the_four_before() -> None:
    earlier = _share_weeks(edits=1, mails=3, first_day=5, month=10)  # 25 % on the wiki
    recent = _share_weeks(edits=3, mails=1, first_day=9, month=11)  # 75 % on the wiki
    up = weekly_report([earlier, recent], NOW, BERLIN)
    assert (up.trend, up.trend_points) == (Trend.UP, 50.0)
    reverse_earlier = _share_weeks(edits=3, mails=1, first_day=5, month=10)
    reverse_recent = _share_weeks(edits=1, mails=3, first_day=9, month=11)
    down = weekly_report([reverse_earlier, reverse_recent], NOW, BERLIN)
    assert (down.trend, down.trend_points) == (Trend.DOWN, -50.0)
    same = weekly_report([earlier, _share_weeks(1, 3, 9, 11)], NOW, BERLIN)
    assert (same.trend, same.trend_points) == (Trend.FLAT, 0.0)
    only_recent = weekly_report([recent], NOW, BERLIN)
    assert only_recent.trend == Trend.UNKNOWN


def test_top_pages_are_the_ten_most_active_and_nudges_keep_going_by_mail() -> None:
    threads = [
        thread(f"T{n:02}", [at(30, 1)] * (n + 1), link=at(30, 0), edits=[at(30, 2)] * (n % 3))
        for n in range(15)
    ]
    report = weekly_report(threads, NOW, BERLIN)
    assert len(report.top_pages) == TOP_PAGES
    assert report.top_pages[0] == PageCount("P/T14", 15, 2)
    activity = [page.mails + page.human_edits for page in report.top_pages]
    assert activity == sorted(activity, reverse=True)
    # Follow-ups (all mails after the link reply) at least STILL_BY_MAIL_MIN and more than edits.
    nudges = report.still_by_mail
    assert all(page.mails >= STILL_BY_MAIL_MIN and page.mails > page.human_edits for page in nudges)
    assert len(nudges) == TOP_PAGES
    assert nudges[0] == PageCount("P/T14", 15, 2)
    assert [page.mails for page in nudges] == sorted((page.mails for page in nudges), reverse=True)
    few = weekly_report(threads[:3], NOW, BERLIN).still_by_mail
    # T00 has one follow-up only; T01 two against one edit; T02 three against two edits.
    assert few == (PageCount("P/T02", 3, 2), PageCount("P/T01", 2, 1))


def test_a_thread_edited_more_than_mailed_is_no_nudge_candidate() -> None:
    busy = thread("Wiki", [at(30, 1), at(30, 3), at(30, 4)], link=at(30, 2), edits=[at(30, 5)] * 3)
    assert weekly_report([busy], NOW, BERLIN).still_by_mail == ()


_MOMENTS = st.datetimes(
    min_value=datetime(2026, 6, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)


@given(
    st.lists(
        st.tuples(
            st.lists(_MOMENTS, min_size=1, max_size=6),
            st.one_of(st.none(), _MOMENTS),
            st.lists(_MOMENTS, max_size=6),
        ),
        max_size=8,
    ),
    st.sampled_from(["Europe/Berlin", "UTC", "Pacific/Kiritimati", "America/Los_Angeles"]),
)
def test_every_counted_event_lies_in_the_period_and_no_count_exceeds_its_events(
    raw: list[tuple[list[datetime], datetime | None, list[datetime]]], zone_name: str
) -> None:
    zone = ZoneInfo(zone_name)
    threads = [thread(str(n), mails, link, edits) for n, (mails, link, edits) in enumerate(raw)]
    report = weekly_report(threads, NOW, zone)
    first = report.weeks[0].start
    inside = [m for t in threads for m in t.mails if first <= week_start(m, zone) <= report.weeks[-1].start]
    assert sum(w.mails for w in report.weeks) == len(inside)
    assert sum(w.new_threads for w in report.weeks) <= len(threads)
    for week in report.weeks:
        assert week.follow_up_mails <= week.mails
        assert week.pages_edited <= week.human_edits
        assert week.share is None or 0.0 <= week.share <= 1.0
        assert week.median_to_first_edit is None or week.median_to_first_edit >= timedelta(0)
