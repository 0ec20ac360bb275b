"""Publication periods: the window a run publishes depends on the week or month it was scheduled in, only."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reports.periods import PERIODS, Period, end_moment, window_before, window_containing

ZONE = "Asia/Shanghai"
SHANGHAI = ZoneInfo(ZONE)


def _at(year: int, month: int, day: int, hour: int = 1) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("period", "scheduled", "start", "end"),
    [
        ("weekly", _at(2026, 11, 23), dt.date(2026, 11, 16), dt.date(2026, 11, 23)),  # Monday 01:00
        ("weekly", _at(2026, 11, 26, 15), dt.date(2026, 11, 16), dt.date(2026, 11, 23)),  # three days late
        ("weekly", _at(2026, 11, 22, 23), dt.date(2026, 11, 9), dt.date(2026, 11, 16)),  # Sunday: not over yet
        ("monthly", _at(2026, 12, 1), dt.date(2026, 11, 1), dt.date(2026, 12, 1)),
        ("monthly", _at(2026, 3, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)),
        ("monthly", _at(2027, 1, 4), dt.date(2026, 12, 1), dt.date(2027, 1, 1)),  # across the year
    ],
)
def test_a_scheduled_time_publishes_the_last_full_period(
    period: Period, scheduled: dt.datetime, start: dt.date, end: dt.date
) -> None:
    window = window_before(period, scheduled, ZONE)
    assert (window.start, window.end) == (start, end)


def test_the_day_is_the_display_zones_not_utcs() -> None:
    # Monday 01:00 in Shanghai is still Sunday 17:00 in UTC: the week that just ended is published.
    monday = _at(2026, 11, 23).astimezone(dt.UTC)
    assert window_before("weekly", monday, ZONE).start == dt.date(2026, 11, 16)
    assert window_before("weekly", monday, "UTC").start == dt.date(2026, 11, 9)


def test_a_time_without_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        window_before("weekly", dt.datetime(2026, 11, 23, 1), ZONE)


@pytest.mark.parametrize(
    ("period", "day", "start", "end"),
    [
        ("weekly", dt.date(2026, 11, 18), dt.date(2026, 11, 16), dt.date(2026, 11, 23)),
        ("monthly", dt.date(2026, 12, 31), dt.date(2026, 12, 1), dt.date(2027, 1, 1)),
    ],
)
def test_by_hand_a_day_names_its_period(period: Period, day: dt.date, start: dt.date, end: dt.date) -> None:
    window = window_containing(period, day)
    assert (window.start, window.end) == (start, end)
    assert window_before(period, end_moment(window, ZONE), ZONE) == window


_SCHEDULED_DAYS = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 1, 1))


def _scheduled(period: Period, day: dt.date) -> dt.datetime:
    """The schedule's time for the period containing `day`: Monday or the 1st, at 01:00 in the zone."""
    first = day - dt.timedelta(days=day.weekday()) if period == "weekly" else day.replace(day=1)
    return dt.datetime.combine(first, dt.time(1), SHANGHAI)


@given(
    st.sampled_from(PERIODS), _SCHEDULED_DAYS, st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=3))
)
def test_late_and_repeated_runs_publish_the_same_full_period(period: Period, day: dt.date, late: dt.timedelta) -> None:
    scheduled = _scheduled(period, day)
    window = window_before(period, scheduled, ZONE)
    assert window_before(period, scheduled + late, ZONE) == window  # late
    assert window_before(period, scheduled.astimezone(dt.UTC), ZONE) == window  # the same time, another offset
    # A full period that ended by the scheduled time, and the latest one: it ends where the next begins.
    assert window.end == scheduled.date()
    if period == "weekly":
        assert window.start.weekday() == 0 and window.end - window.start == dt.timedelta(days=7)
    else:
        assert window.start.day == 1 and window.end.day == 1
        assert (window.end.year * 12 + window.end.month) - (window.start.year * 12 + window.start.month) == 1
    assert window_containing(period, window.start) == window
