"""`PublishReports`: the scheduled publication of the handling figures (docs/reports.md, "Publication").

A Temporal Schedule starts it weekly or monthly; the window is the last full period before the time
the run was scheduled for (the `TemporalScheduledStartTime` search attribute the schedule sets), or
before `as_of` when a run is started by hand, never before the moment it happens to run: a late or
repeated run publishes the same period. All I/O is in the activity (activities/report_activities.py).
"""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.report_activities import Published, PublishWindow
    from reports.periods import Period
    from workflows.compliance_workflow import SCHEDULED_START

PUBLISH_WORKFLOW = "PublishReports"
_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))


class PublishRequest(BaseModel):
    period: Period
    folder: str | None = None  # default: the worker's folder (<project>/published)
    as_of: dt.datetime | None = None  # default: the scheduled time, else the run's start


@workflow.defn(name=PUBLISH_WORKFLOW)
class PublishReports:
    @workflow.run
    async def run(self, request: PublishRequest) -> Published:
        scheduled = request.as_of or workflow.info().typed_search_attributes.get(SCHEDULED_START) or workflow.now()
        published: Published = await workflow.execute_activity(
            "publish_reports",
            PublishWindow(period=request.period, scheduled=scheduled, folder=request.folder),
            result_type=Published,
            # Three reports over a month of a large ledger take minutes (docs/reports.md, the costs).
            start_to_close_timeout=timedelta(hours=1),
            retry_policy=_RETRY,
        )
        return published
