"""The Temporal Schedule that runs the risk watch (`aftersales risk schedule`): created or updated, idempotently."""

from __future__ import annotations

import datetime as dt

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from workflows.compliance_workflow import COMPLIANCE_WORKFLOW, WatchRequest

SCHEDULE_ID = "aftersales-risk-watch"
RUN_ID_PREFIX = "risk-watch"  # the server appends each run's scheduled time


def watch_schedule(every: dt.timedelta, task_queue: str) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            COMPLIANCE_WORKFLOW, WatchRequest(), id=RUN_ID_PREFIX, task_queue=task_queue
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        # A run still going when the next is due: the next waits (one at a time, none dropped).
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.BUFFER_ONE),
    )


async def ensure_schedule(client: Client, every: dt.timedelta, task_queue: str) -> str:
    """`created`, or `updated` when the schedule existed (its interval and action set to these)."""
    schedule = watch_schedule(every, task_queue)
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
        return "created"
    except ScheduleAlreadyRunningError:

        def replace(_current: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(SCHEDULE_ID).update(replace)
        return "updated"
