"""Deadline arithmetic on the checked-in mainland-China calendar."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policy_engine.language import (
    BusinessHours,
    Calendar,
    CalendarDays,
    CalendarRangeError,
    Exact,
    PolicySet,
    WorkingDays,
    parse_duration,
)

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def cn(policy_set: PolicySet) -> Calendar:
    return policy_set.calendars["cn-mainland"]


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_statutory_seven_day_example(cn: Calendar) -> None:
    # domain.md: signed for 2026-11-01 15:00 +08:00 -> in time until 2026-11-08 23:59:59, late from 11-09 00:00.
    due = cn.due(at("2026-11-01T15:00:00+08:00"), parse_duration("7 calendar days"))
    assert due == at("2026-11-09T00:00:00+08:00")
    assert at("2026-11-08T23:59:59+08:00") < due
    assert not at("2026-11-09T00:00:00+08:00") < due


def test_calendar_days_count_in_local_time_whatever_the_offset(cn: Calendar) -> None:
    # 2026-11-01 23:30 in Shanghai is still 15:30 UTC the same day: day 1 is 11-02 local.
    assert cn.due(at("2026-11-01T15:30:00+00:00"), CalendarDays(7)) == at("2026-11-09T00:00:00+08:00")


def test_make_up_working_weekend(cn: Calendar) -> None:
    # 2026-09-20 (a Sunday) is a make-up working day; 2026-10-01..07 are the National Day holiday.
    assert cn.is_working_day(dt.date(2026, 9, 20))
    assert not cn.is_working_day(dt.date(2026, 9, 19))
    assert not cn.is_working_day(dt.date(2026, 10, 6))
    assert cn.is_working_day(dt.date(2026, 10, 10))  # Saturday, make-up day
    # Friday 2026-09-18 17:00 + 2 working days: Sunday 09-20 (make-up) and Monday 09-21 count.
    assert cn.due(at("2026-09-18T17:00:00+08:00"), WorkingDays(2)) == at("2026-09-22T00:00:00+08:00")
    # 2026-09-30 + 3 working days skips the whole holiday: 10-08, 10-09, 10-10 (Saturday, make-up).
    assert cn.due(at("2026-09-30T12:00:00+08:00"), WorkingDays(3)) == at("2026-10-11T00:00:00+08:00")


def test_business_hours_skip_nights_weekends_and_holidays(cn: Calendar) -> None:
    # Wednesday 2026-09-30 17:00 + 8 business hours: 1 h that day, then nothing until Thursday 10-08.
    assert cn.due(at("2026-09-30T17:00:00+08:00"), BusinessHours(8 * 60)) == at("2026-10-08T16:00:00+08:00")
    # Saturday 09-19 is a weekend; Sunday 09-20 is a make-up working day that opens at 09:00.
    assert cn.due(at("2026-09-19T10:00:00+08:00"), BusinessHours(60)) == at("2026-09-20T10:00:00+08:00")


def test_exact_durations_ignore_the_calendar(cn: Calendar) -> None:
    assert cn.due(at("2026-09-30T17:00:00+08:00"), Exact(48 * 3600)) == at("2026-10-02T17:00:00+08:00")


def test_no_data_past_the_covered_years(cn: Calendar) -> None:
    with pytest.raises(CalendarRangeError, match="2028"):
        cn.is_working_day(dt.date(2028, 1, 3))


def test_provisional_year_is_marked(cn: Calendar) -> None:
    assert 2027 in cn.provisional_years
    assert 2026 not in cn.provisional_years


def test_warranty_months_end_at_local_midnight(cn: Calendar) -> None:
    assert cn.add_months(at("2026-11-01T15:00:00+08:00"), 12) == at("2027-11-02T00:00:00+08:00")
    # A month without the day: the 31st -> the last day of the shorter month.
    assert cn.add_months(at("2026-01-31T10:00:00+08:00"), 1) == at("2026-03-01T00:00:00+08:00")


@given(
    start=st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 6, 30), timezones=st.just(SH)),
    minutes=st.integers(min_value=1, max_value=60 * 40),
)
def test_business_seconds_round_trip(cn: Calendar, start: dt.datetime, minutes: int) -> None:
    due = cn.add_business_seconds(start, minutes * 60)
    assert due > start
    assert cn.business_seconds_between(start, due) == minutes * 60
    assert cn.is_working_day(due.date())
