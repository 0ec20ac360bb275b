"""Whether an existing workflow under a linked case's id is the one its parent opened.

A linked case's id is derived from its parent (`<parent>-<type>-<seq>`, the engine's `open_case`):
stable across replays and retries, so that a retry finds the case it opened, but predictable. Anyone
who may start workflows can open that id first, and a parent that simply attached to whatever runs
there would hand its customer to the squatter's case.

Why verify rather than derive an id nobody can predict: the id must be the same on every retry of the
activity and in the simulator, and nothing the workflow or the engine computes is secret (a random
part would need storing before the start, and a crash between the start and the store would open a
second case). The start itself is on record, though, and cannot be rewritten: the first event of the
existing workflow's history holds its type, task queue, input and time. The parent attaches only to
a workflow that

- is an `AfterSalesCase` on this worker's task queue, the first run of its chain and not on a cron
  schedule,
- was started with exactly the opening this action sends (its data, and links naming this parent
  and the linking action's key), and
- was started no earlier than this action was first scheduled (a case opened in advance would have
  run its clocks from before the parent decided to open it).

A workflow started by someone else that passes all three is the case the parent would have opened,
opened at the moment it asked: attaching to it is harmless. Anything else is refused loudly: the
action fails for good with the reason (an error in the worker's log), and the parent does not attach.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from temporalio.client import Client

from workflows.contract import WORKFLOW_TYPE, CaseStart

LINKED_CASE_TAKEN = "LinkedCaseTaken"  # the error type of an open_case action whose id someone else holds


async def why_not_ours(
    client: Client, workflow_id: str, expected: list[CaseStart], task_queue: str, not_before: dt.datetime
) -> str | None:
    """Why the workflow under `workflow_id` is not the linked case this action opens, or None.

    `expected`: the starts this action may have sent (today's, and the one an earlier release sent
    before a retry of the same action crossed the upgrade).
    """
    # The token is not compared: a retry (on another worker process, with another key) signs anew.
    wanted = [_unsigned(e) for e in expected]
    return await why_not_opened_as(
        client, workflow_id, lambda start: _unsigned(start) in wanted, task_queue, not_before
    )


async def why_not_opened_as(
    client: Client,
    workflow_id: str,
    opened_as: Callable[[CaseStart], bool],
    task_queue: str,
    not_before: dt.datetime,
) -> str | None:
    """Why the workflow under `workflow_id` is not a case this worker would have opened, or None.

    The checks of the module's docstring, with `opened_as` judging the opening on record.
    """
    description = await client.get_workflow_handle(workflow_id).describe()
    first_run = description.raw_description.workflow_execution_info.first_run_id or description.run_id
    first: Any = None
    async for event in client.get_workflow_handle(workflow_id, run_id=first_run).fetch_history_events():
        first = event
        break
    if first is None or not first.HasField("workflow_execution_started_event_attributes"):
        return "has no start on record"
    started = first.workflow_execution_started_event_attributes
    if started.workflow_type.name != WORKFLOW_TYPE:
        return f"is a {started.workflow_type.name} workflow, not a case"
    if started.task_queue.name != task_queue:
        return f"runs on task queue {started.task_queue.name}, not {task_queue}"
    if started.continued_execution_run_id or started.cron_schedule:
        return "was not started as a new case"
    at = first.event_time.ToDatetime(tzinfo=dt.UTC)
    if at < not_before:
        return f"was opened at {at.isoformat()}, before this case asked for it ({not_before.isoformat()})"
    decoded = await client.data_converter.decode(started.input.payloads, [CaseStart])
    if not decoded or not opened_as(decoded[0]):
        return "was opened with another opening than the one asked for"
    return None


def _unsigned(start: CaseStart) -> CaseStart:
    return start.model_copy(update={"open": start.open.model_copy(update={"token": None})})
