"""The Temporal Schedules that publish the handling figures (`aftersales report schedule`), created or updated.

`aftersales-report-weekly` runs every Monday at 01:00 and `aftersales-report-monthly` on the 1st at
01:00, in the display zone (AFTERSALES_TIMEZONE); each run publishes the period that just ended
(reports/periods.py). An hour after midnight leaves the last cases of the period time to reach the ledger.
"""

from __future__ import annotations

import datetime as dt

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from reports.periods import Period
from workflows.report_workflow import PUBLISH_WORKFLOW, PublishRequest

HOUR = 1  # local time of every run


def schedule_id(period: Period) -> str:
    return f"aftersales-report-{period}"


def run_id_prefix(period: Period) -> str:
    return f"report-{period}"  # the server appends each run's scheduled time


def calendar(period: Period) -> ScheduleCalendarSpec:
    """Monday (weekly) or the 1st (monthly), at 01:00:00."""
    hour, minute, second = [ScheduleRange(HOUR)], [ScheduleRange(0)], [ScheduleRange(0)]
    if period == "weekly":
        return ScheduleCalendarSpec(day_of_week=[ScheduleRange(1)], hour=hour, minute=minute, second=second)
    return ScheduleCalendarSpec(day_of_month=[ScheduleRange(1)], hour=hour, minute=minute, second=second)


# A run missed while the server was down still starts when it is back, if within this long; its
# window comes from the time it was scheduled for, so it publishes the right period however late.
CATCHUP: dict[Period, dt.timedelta] = {"weekly": dt.timedelta(days=6), "monthly": dt.timedelta(days=27)}


def publish_schedule(period: Period, task_queue: str, timezone: str, folder: str | None) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            PUBLISH_WORKFLOW,
            PublishRequest(period=period, folder=folder),
            id=run_id_prefix(period),
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(calendars=[calendar(period)], time_zone_name=timezone),
        # A run still going when the next is due (a huge ledger): the next is skipped, not queued;
        # publish it by hand with `aftersales report publish`.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP[period]),
    )


async def ensure_schedule(client: Client, period: Period, task_queue: str, timezone: str, folder: str | None) -> str:
    """`created`, or `updated` when the schedule existed (its calendar, zone and action set to these)."""
    schedule = publish_schedule(period, task_queue, timezone, folder)
    try:
        await client.create_schedule(schedule_id(period), schedule)
        return "created"
    except ScheduleAlreadyRunningError:

        def replace(_current: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id(period)).update(replace)
        return "updated"
