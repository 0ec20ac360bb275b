"""A report's window: cases opened from one local date (included) to another (excluded).

Dates are days in the display zone (AFTERSALES_TIMEZONE): `--from 2026-11-01 --to 2026-12-01` is
November, from its first midnight there to the next month's. Weeks for the charts are the 7-day
stretches from the first day on (the last one may be shorter).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Window:
    start: dt.date
    end: dt.date  # excluded
    timezone: str

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("the window's end (--to) must be after its start (--from)")

    def moment(self, day: dt.date) -> dt.datetime:
        """Midnight of `day` in the window's zone, in UTC (as the ledger stores times)."""
        return dt.datetime.combine(day, dt.time(), ZoneInfo(self.timezone)).astimezone(dt.UTC)

    @property
    def opened_from(self) -> dt.datetime:
        return self.moment(self.start)

    @property
    def opened_before(self) -> dt.datetime:
        return self.moment(self.end)

    def weeks(self) -> list[dt.date]:
        """The first day of each week in the window."""
        days = (self.end - self.start).days
        return [self.start + dt.timedelta(days=offset) for offset in range(0, days, 7)]
