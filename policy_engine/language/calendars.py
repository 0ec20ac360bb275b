"""Working-day calendars and deadline arithmetic (calendar days, working days, business hours)."""

from __future__ import annotations

import calendar as _cal
import datetime as dt
from functools import cached_property
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from policy_engine.language.durations import BusinessHours as BusinessHoursDuration
from policy_engine.language.durations import CalendarDays, Duration, Exact, WorkingDays

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_WEEKDAYS: list[str] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class CalendarRangeError(ValueError):
    """Working-day arithmetic needs a year the calendar does not cover."""


class DayEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    date: dt.date
    name: str = ""


def _clock(text: str) -> dt.time:
    try:
        hour, minute = text.split(":")
        return dt.time(int(hour), int(minute))
    except (ValueError, TypeError):
        raise ValueError(f"'{text}' is not a clock time HH:MM") from None


class BusinessHours(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start: str = "09:00"
    end: str = "18:00"

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        _clock(value)  # checked per field, so a bad time is reported at itself, not at the mapping
        return value

    @model_validator(mode="after")
    def _order(self) -> BusinessHours:
        if _clock(self.start) >= _clock(self.end):
            raise ValueError("business hours must start before they end")
        return self

    @property
    def start_time(self) -> dt.time:
        return _clock(self.start)

    @property
    def end_time(self) -> dt.time:
        return _clock(self.end)


class Calendar(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    calendar: str
    description: str = ""
    timezone: str
    weekend: list[Weekday] = Field(default_factory=lambda: list[Weekday](["saturday", "sunday"]))
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    holidays: list[DayEntry] = Field(default_factory=list)
    workdays: list[DayEntry] = Field(default_factory=list)
    years: list[int] = Field(min_length=1)
    provisional_years: list[int] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}'") from None
        return value

    @model_validator(mode="after")
    def _dates(self) -> Calendar:
        seen: set[dt.date] = set()
        for kind, entries in (("holiday", self.holidays), ("workday", self.workdays)):
            for entry in entries:
                if entry.date.year not in self.years:
                    raise ValueError(f"{kind} {entry.date} is outside the calendar's years {self.years}")
                if entry.date in seen:
                    raise ValueError(f"{entry.date} is listed twice (a day is a holiday or a make-up workday)")
                seen.add(entry.date)
                if kind == "workday" and _WEEKDAYS[entry.date.weekday()] not in self.weekend:
                    raise ValueError(f"make-up workday {entry.date} is not a weekend day")
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def _holidays(self) -> frozenset[dt.date]:
        return frozenset(e.date for e in self.holidays)

    @cached_property
    def _workdays(self) -> frozenset[dt.date]:
        return frozenset(e.date for e in self.workdays)

    @cached_property
    def _weekend(self) -> frozenset[int]:
        return frozenset(_WEEKDAYS.index(d) for d in self.weekend)

    def _covered(self, day: dt.date) -> None:
        if day.year not in self.years:
            raise CalendarRangeError(
                f"calendar '{self.calendar}' has no data for {day.year} (it covers {', '.join(map(str, self.years))})"
            )

    def is_working_day(self, day: dt.date) -> bool:
        self._covered(day)
        if day in self._workdays:
            return True
        if day in self._holidays:
            return False
        return day.weekday() not in self._weekend

    def _midnight(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(0), tzinfo=self.zone)

    def due(self, start: dt.datetime, duration: Duration) -> dt.datetime:
        if isinstance(duration, Exact):
            return (start.astimezone(dt.UTC) + dt.timedelta(seconds=duration.seconds)).astimezone(self.zone)
        local = start.astimezone(self.zone)
        if isinstance(duration, CalendarDays):
            return self._midnight(local.date() + dt.timedelta(days=duration.days + 1))
        if isinstance(duration, WorkingDays):
            day = local.date()
            left = duration.days
            while left > 0:
                day += dt.timedelta(days=1)
                if self.is_working_day(day):
                    left -= 1
            return self._midnight(day + dt.timedelta(days=1))
        if isinstance(duration, BusinessHoursDuration):
            return self.add_business_seconds(start, duration.minutes * 60)
        raise TypeError(f"unknown duration {duration!r}")

    def add_months(self, start: dt.datetime, months: int) -> dt.datetime:
        local = start.astimezone(self.zone).date()
        index = local.year * 12 + (local.month - 1) + months
        year, month = divmod(index, 12)
        last = _cal.monthrange(year, month + 1)[1]
        day = dt.date(year, month + 1, min(local.day, last))
        return self._midnight(day + dt.timedelta(days=1))

    def _open_hours(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        bh = self.business_hours
        return (
            dt.datetime.combine(day, bh.start_time, tzinfo=self.zone),
            dt.datetime.combine(day, bh.end_time, tzinfo=self.zone),
        )

    def add_business_seconds(self, start: dt.datetime, seconds: int) -> dt.datetime:
        local = start.astimezone(self.zone)
        day = local.date()
        left = seconds
        cursor = local
        for _ in range(3660):
            if self.is_working_day(day):
                opens, closes = self._open_hours(day)
                begin = max(cursor, opens)
                if begin < closes:
                    available = int((closes - begin).total_seconds())
                    if left <= available:
                        return begin + dt.timedelta(seconds=left)
                    left -= available
            day += dt.timedelta(days=1)
            cursor = self._midnight(day)
        raise CalendarRangeError("business-hour arithmetic ran past ten years")

    def business_seconds_between(self, a: dt.datetime, b: dt.datetime) -> int:
        if b <= a:
            return 0
        la, lb = a.astimezone(self.zone), b.astimezone(self.zone)
        total = 0
        day = la.date()
        while day <= lb.date():
            if self.is_working_day(day):
                opens, closes = self._open_hours(day)
                begin, end = max(opens, la), min(closes, lb)
                if end > begin:
                    total += int((end - begin).total_seconds())
            day += dt.timedelta(days=1)
        return total

    def _working_day_span(self, day: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """A day from its local midnight to the next, in UTC: a day of a daylight-saving change is as
        long as it really is (as the ledger counts it, ledger/clock_time.py)."""
        return self._midnight(day).astimezone(dt.UTC), self._midnight(day + dt.timedelta(days=1)).astimezone(dt.UTC)

    def working_day_seconds_between(self, a: dt.datetime, b: dt.datetime) -> int:
        """The seconds from `a` to `b` that fall on working days (local midnight to midnight): the
        time an `N working days` clock uses. A weekend or a holiday adds nothing; a make-up working
        day counts."""
        if b <= a:
            return 0
        a, b = a.astimezone(dt.UTC), b.astimezone(dt.UTC)
        day, last = a.astimezone(self.zone).date(), b.astimezone(self.zone).date()
        total = dt.timedelta(0)
        while day <= last:
            if self.is_working_day(day):
                opens, closes = self._working_day_span(day)
                begin, end = max(opens, a), min(closes, b)
                if end > begin:
                    total += end - begin
            day += dt.timedelta(days=1)
        return int(total.total_seconds())

    def add_working_day_seconds(self, start: dt.datetime, seconds: int) -> dt.datetime:
        """The first moment by which `seconds` falling on working days have passed since `start`: the
        inverse of `working_day_seconds_between`, skipping weekends and holidays."""
        cursor = start.astimezone(dt.UTC)
        day = start.astimezone(self.zone).date()
        left = dt.timedelta(seconds=seconds)
        for _ in range(3660):
            if self.is_working_day(day):
                opens, closes = self._working_day_span(day)
                begin = max(cursor, opens)
                if begin < closes:
                    if left <= closes - begin:
                        return (begin + left).astimezone(self.zone)
                    left -= closes - begin
            day += dt.timedelta(days=1)
        raise CalendarRangeError("working-day arithmetic ran past ten years")
