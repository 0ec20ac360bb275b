"""Publication periods: the full week or month a scheduled run publishes, from the time it was scheduled for.

A run scheduled for T publishes the last period that ended by T, in the display zone: `weekly` the last
full Monday-to-Sunday week, `monthly` the last full calendar month. Only T's local date counts, so a run
that starts late (within the next period) or again for the same T publishes the same window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

Period = Literal["weekly", "monthly"]
PERIODS: tuple[Period, ...] = ("weekly", "monthly")


@dataclass(frozen=True)
class PeriodWindow:
    """Days in the display zone: from `start` (included) to `end` (excluded), as `build_report` takes them."""

    period: Period
    start: dt.date
    end: dt.date

    @property
    def name(self) -> str:
        """`weekly-2026-11-16`: the published files' name without extension, and the outbox key's tail."""
        return f"{self.period}-{self.start.isoformat()}"


def _period_start(period: Period, day: dt.date) -> dt.date:
    """The first day of the period that contains `day`."""
    if period == "weekly":
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def _previous_start(period: Period, start: dt.date) -> dt.date:
    """The first day of the period before the one starting on `start`."""
    if period == "weekly":
        return start - dt.timedelta(days=7)
    return (start - dt.timedelta(days=1)).replace(day=1)


def _next_start(period: Period, start: dt.date) -> dt.date:
    if period == "weekly":
        return start + dt.timedelta(days=7)
    return (start + dt.timedelta(days=31)).replace(day=1)


def window_before(period: Period, scheduled: dt.datetime, timezone: str) -> PeriodWindow:
    """The last full period that ended by `scheduled` (an aware time), days in `timezone`."""
    if scheduled.tzinfo is None:
        raise ValueError("a scheduled time needs its UTC offset")
    today = scheduled.astimezone(ZoneInfo(timezone)).date()
    current = _period_start(period, today)
    return PeriodWindow(period, _previous_start(period, current), current)


def window_containing(period: Period, day: dt.date) -> PeriodWindow:
    """The period that contains `day` (for publishing one by hand: `aftersales report publish --for`)."""
    start = _period_start(period, day)
    return PeriodWindow(period, start, _next_start(period, start))


def end_moment(window: PeriodWindow, timezone: str) -> dt.datetime:
    """The window's end, midnight in `timezone`: the earliest time whose `window_before` is this window."""
    return dt.datetime.combine(window.end, dt.time(), ZoneInfo(timezone))
