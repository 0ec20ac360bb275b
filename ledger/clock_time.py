"""Time in an SLA clock's time base: elapsed seconds, seconds of working days, or business seconds.

A clock's target, its running time and its paused time are counted in the same unit, so that
running / target is the share of the target used:

- `calendar` (exact durations and calendar days): elapsed seconds;
- `working_days`: seconds that fall on working days of the policy's calendar (local midnight to
  midnight); a weekend or a holiday adds nothing. The engine's due time for `N working days` is the
  end of the Nth working day after the start's day, so a clock running from its start to its due
  time counts the rest of the start's day (when it is a working day) and N whole days;
- `business_hours`: seconds inside business hours on working days, as the engine counts a
  business-hour target (`Calendar.business_seconds_between`).

The ledger must write a row whatever the time: a day of a year the calendar does not cover (the
engine refuses to compute a due time there, but a breached clock runs on to its stop) counts by the
calendar's usual week, since its holidays are not known. Without a calendar (a batch sent before
openings carried one) time is elapsed seconds, as it was then.
"""

from __future__ import annotations

import datetime as dt

from ledger.opening import TimeBase
from policy_engine.language import Calendar, CalendarRangeError

ONE_DAY = dt.timedelta(days=1)
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def seconds_in_base(base: TimeBase, calendar: Calendar | None, start: dt.datetime, end: dt.datetime) -> int:
    """The time from `start` to `end` in `base` (0 when `end` is not after `start`)."""
    if end <= start:
        return 0
    if base == "calendar" or calendar is None:
        return int((end - start).total_seconds())
    total = 0.0
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    for opens, closes in _counted_spans(base, calendar, start, end):
        begin, finish = max(opens, start), min(closes, end)
        if finish > begin:
            total += (finish - begin).total_seconds()
    return int(total)


def _counted_spans(
    base: TimeBase, calendar: Calendar, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The stretches of each working day from `start`'s local day to `end`'s that count in `base`, in UTC
    (so that a day of a daylight-saving change is as long as it really is)."""
    zone = calendar.zone
    day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    spans = []
    while day <= last:
        if _is_working_day(calendar, day):
            if base == "business_hours":
                hours = calendar.business_hours
                opens = dt.datetime.combine(day, hours.start_time, tzinfo=zone)
                closes = dt.datetime.combine(day, hours.end_time, tzinfo=zone)
            else:
                opens = dt.datetime.combine(day, dt.time(0), tzinfo=zone)
                closes = dt.datetime.combine(day + ONE_DAY, dt.time(0), tzinfo=zone)
            spans.append((opens.astimezone(dt.UTC), closes.astimezone(dt.UTC)))
        day += ONE_DAY
    return spans


def _is_working_day(calendar: Calendar, day: dt.date) -> bool:
    try:
        return calendar.is_working_day(day)
    except CalendarRangeError:  # a year the calendar does not cover: its usual week
        return _WEEKDAYS[day.weekday()] not in calendar.weekend
