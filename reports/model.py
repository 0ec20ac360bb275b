"""A report as data (pydantic): what `build_report` returns and every format renders.

A row is one group (an SLA clock, a merchant, a category...) with its counts, its times and its
figures; every figure carries its target and whether it met it. The charts' data is the same for
every kind of report (the SLA clocks of the cases in the window) and is computed only when asked for:
only the HTML page draws it.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

ReportKind = Literal["sla", "satisfaction", "merchants"]
GroupBy = Literal["merchant", "category", "priority", "case_type", "channel"]
Verdict = Literal["met", "missed", "no data"]
REPORT_KINDS: tuple[ReportKind, ...] = ("sla", "satisfaction", "merchants")
GROUPS: tuple[GroupBy, ...] = ("merchant", "category", "priority", "case_type", "channel")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Figure(_Frozen):
    """A rate against its target: `at_least` (on-time, satisfaction) or at most (breach rate)."""

    name: str
    value: float | None  # None: nothing to compute it from (no decided clock, no answer)
    target: float
    at_least: bool = True

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Verdict:
        if self.value is None:
            return "no data"
        passed = self.value >= self.target if self.at_least else self.value <= self.target
        return "met" if passed else "missed"


class Row(_Frozen):
    keys: dict[str, str]  # what the row is about: {"clock": "resolve", "merchant": "M-1"}
    counts: dict[str, int]
    hours: dict[str, float | None] = {}  # times to handle, in hours
    figures: list[Figure] = []


class WeekPoint(_Frozen):
    week: dt.date  # its first day
    met: int
    breached: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def on_time_rate(self) -> float | None:
        decided = self.met + self.breached
        return self.met / decided if decided else None


class Slowest(_Frozen):
    """A merchant or category by the share of its clocks' targets that handling took, on average."""

    name: str
    share_of_target: float  # 1.0: handled exactly at the due time, on average
    clocks: int


class Bucket(_Frozen):
    """Clocks handled in [low, high) of their target; high None: at twice the target or later."""

    low: float
    high: float | None
    clocks: int


class Charts(_Frozen):
    on_time_target: float
    weekly: list[WeekPoint]
    slowest_merchants: list[Slowest]
    slowest_categories: list[Slowest]
    distribution: list[Bucket]


class Report(_Frozen):
    kind: ReportKind
    start: dt.date
    end: dt.date  # excluded
    timezone: str
    by: GroupBy | None
    rows: list[Row]
    charts: Charts | None  # None: not computed (`build_report(..., charts=False)`)
    definitions: list[str]
