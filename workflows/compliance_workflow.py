"""`ComplianceWatch`: the scheduled merchant risk watch (docs/risk.md).

A Temporal Schedule starts it; the window ends at the time the run was scheduled for (the
`TemporalScheduledStartTime` search attribute the schedule sets), or at `as_of` when a run is started
by hand, never at the moment it happens to run: a late or repeated run checks the same window and
finds the reviews it opened. All I/O is in activities (activities/risk_activities.py).
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from activities.risk_activities import ReviewOpening, RiskCheckResult

COMPLIANCE_WORKFLOW = "ComplianceWatch"
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))


class WatchRequest(BaseModel):
    as_of: dt.datetime | None = None  # default: the scheduled time, else the run's start


class WatchResult(BaseModel):
    window_start: dt.datetime
    window_end: dt.datetime
    merchants: int
    outcomes: dict[str, str] = Field(
        default_factory=dict
    )  # review case id -> opened, already opened, under review, taken


@workflow.defn(name=COMPLIANCE_WORKFLOW)
class ComplianceWatch:
    @workflow.run
    async def run(self, request: WatchRequest) -> WatchResult:
        as_of = request.as_of or workflow.info().typed_search_attributes.get(SCHEDULED_START) or workflow.now()
        found = await workflow.execute_activity(
            "risk_check",
            as_of,
            result_type=RiskCheckResult,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=_RETRY,
        )
        outcomes: dict[str, str] = {}
        for review in found.reviews:  # one at a time, in merchant order: the history is the same on replay
            outcomes[review.case_id] = await workflow.execute_activity(
                "open_merchant_review",
                ReviewOpening.model_validate(review),
                result_type=str,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=_RETRY,
            )
        return WatchResult(window_start=found.start, window_end=found.end, merchants=found.merchants, outcomes=outcomes)
