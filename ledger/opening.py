"""What the ledger keeps of a case's opening: ids, where it comes from, its policy, its clocks' time bases
and the calendar they count in.

Built once when the case opens (`opening_of`), from the policy and the case as the engine opened it;
the workflow passes it with every batch of facts, so that writing a batch never needs the policy.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from policy_engine.engine import CaseState, listing
from policy_engine.language import (
    BusinessHours,
    Calendar,
    Duration,
    ResolvedPolicy,
    SlaClock,
    WorkingDays,
    duration_of,
)

TimeBase = Literal["calendar", "working_days", "business_hours"]


class CaseOpening(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    case_id: str = Field(min_length=1, max_length=200)
    case_type: str = Field(min_length=1, max_length=200)
    merchant: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=200)
    channel: str | None = Field(default=None, max_length=200)
    priority: str | None = Field(default=None, max_length=200)
    policy_id: str = Field(min_length=1, max_length=200)
    policy_version: str = Field(min_length=1, max_length=64)
    opened_at: dt.datetime
    # Each SLA clock of the policy and the base its target is counted in.
    clocks: dict[str, TimeBase] = Field(default_factory=dict)
    # The pinned policy's calendar, which working-day and business-hour clocks count in (ledger/clock_time.py);
    # None when every clock counts elapsed time.
    calendar: Calendar | None = None

    @model_serializer(mode="wrap")
    def _without_missing_calendar(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Left out when None: an opening without such clocks reads as before openings carried a
        # calendar, so the batches of the cases that have none are the same bytes as ever.
        data: dict[str, Any] = handler(self)
        if data.get("calendar") is None:
            data.pop("calendar", None)
        return data


def opening_of(resolved: ResolvedPolicy, case: CaseState) -> CaseOpening:
    """The opening facts of `case`, which `resolved` opened (merchant and priority as case lists show them)."""
    listed = listing(resolved, case)
    clocks = {name: time_base_of(clock) for name, clock in resolved.policy.sla.items()}
    return CaseOpening(
        case_id=case.case_id,
        case_type=case.case_type,
        merchant=listed["merchant"],
        category=_text(case.data.get("category")) or _text(_item(case.data).get("category")),
        channel=_text(case.data.get("channel")),
        priority=listed["priority"],
        policy_id=case.policy_id,
        policy_version=case.policy_version,
        opened_at=case.opened_at,
        clocks=clocks,
        calendar=counting_calendar(resolved) if _counts_in_calendar(clocks) else None,
    )


def with_calendar(opening: CaseOpening, resolved: ResolvedPolicy) -> CaseOpening:
    """`opening` with the calendar of its pinned policy `resolved`, when its clocks count in one and it
    has none (an opening made before openings carried it)."""
    if opening.calendar is not None or not _counts_in_calendar(opening.clocks):
        return opening
    return opening.model_copy(update={"calendar": counting_calendar(resolved)})


def counting_calendar(resolved: ResolvedPolicy) -> Calendar | None:
    """The policy's calendar as the ledger needs it: its days' names and description left out, since
    the opening goes with every batch of facts."""
    calendar = resolved.calendar
    if calendar is None:
        return None
    data = calendar.model_dump(exclude={"description", "holidays", "workdays"})
    return Calendar.model_validate(
        data
        | {
            "holidays": [{"date": day.date} for day in calendar.holidays],
            "workdays": [{"date": day.date} for day in calendar.workdays],
        }
    )


def _counts_in_calendar(clocks: dict[str, TimeBase]) -> bool:
    return any(base != "calendar" for base in clocks.values())


def time_base_of(clock: SlaClock) -> TimeBase:
    """The base of a clock's target; a target chosen per case (by priority) takes its default's."""
    target = clock.target if isinstance(clock.target, str) else clock.target.default
    return _base(duration_of(target))


def _base(duration: Duration) -> TimeBase:
    if isinstance(duration, BusinessHours):
        return "business_hours"
    if isinstance(duration, WorkingDays):
        return "working_days"
    return "calendar"


def _item(data: dict[str, Any]) -> dict[str, Any]:
    item = data.get("item")
    return item if isinstance(item, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
