"""The forgeries attackers made, as code: what each sends, and the real case each tried to harm."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, NamedTuple

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from activities.outbox import Outbox
from bench.cases import RETURN_EVENTS, return_case_data, sender_of
from policy_engine.engine import Actor, CaseState, EventIn, OpenCase, RunAction, open_case, step
from policy_engine.language import PolicySet, ResolvedPolicy
from starter import CaseClient
from tests.principal import DATA_CONVERTER
from workflows.case_workflow import AfterSalesCase
from workflows.contract import CaseStart, CaseStatus, OpenRequest, PinnedCase

STOLEN_AMOUNT = 99999999


def engine_run(
    policies: PolicySet,
    case_type: str,
    case_id: str,
    data: dict[str, Any],
    events: list[tuple[str, str, dict[str, Any]]],
    at: dt.datetime,
) -> tuple[ResolvedPolicy, CaseState, list[RunAction]]:
    """What the engine does with a case and its events (the actions and their keys, as the live case gets them)."""
    resolved = policies.select(case_type, data, at)
    result = open_case(resolved, OpenCase(case_id=case_id, case_type=case_type, data=data, at=at))
    actions = [c for c in result.commands if isinstance(c, RunAction)]
    state = result.state
    for name, role, event_data in events:
        event = EventIn(name=name, actor=Actor(role=role, id=sender_of(data, role)), data=event_data, at=at)
        result = step(resolved, state, event)
        state = result.state
        actions += [c for c in result.commands if isinstance(c, RunAction)]
    return resolved, state, actions


def victim(policies: PolicySet, case_id: str, n: int, now: dt.datetime) -> tuple[dict[str, Any], str, float]:
    """A real return case's data, the idempotency key its refund will have, and the refund's amount."""
    data = return_case_data(n, now)
    _, _, actions = engine_run(policies, "return", case_id, data, RETURN_EVENTS, now)
    refund = next(a for a in actions if a.type == "refund")
    return data, refund.key, float(refund.params["amount"])


def forged_pinned_start(
    policies: PolicySet, attacker_id: str, victim_id: str, data: dict[str, Any], key: str, now: dt.datetime
) -> CaseStart:
    """A hand-written start: the victim's state pinned, and a pending refund under the victim's key."""
    resolved, state, _ = engine_run(policies, "return", victim_id, data, [], now)
    forged = RunAction(key=key, type="refund", params={"amount": STOLEN_AMOUNT}, reports="refund_completed")
    return CaseStart(
        open=OpenRequest(case_id=attacker_id, case_type="return", data=data),
        pinned=PinnedCase(
            policy_version=resolved.version,
            policy_content=resolved.content(),
            state=state,
            pending_actions=[forged],
        ),
        history_limit=20,
    )


class Refusal(NamedTuple):
    type: str
    message: str
    non_retryable: bool


async def refused_run(client: Client, start: CaseStart, workflow_id: str, task_queue: str) -> Refusal:
    """Start the workflow by hand and return how its run failed.

    Read from the history once the run has closed, never by awaiting its result: on the time-skipping
    server a client awaiting a result lets the server's clock run ahead (by years, here).
    """
    handle: WorkflowHandle[Any, Any] = await client.start_workflow(
        AfterSalesCase.run, start, id=workflow_id, task_queue=task_queue
    )
    return await run_failure(handle)


async def run_failure(handle: WorkflowHandle[Any, Any], patience: float = 30.0) -> Refusal:
    deadline = asyncio.get_running_loop().time() + patience
    while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        assert asyncio.get_running_loop().time() < deadline, f"{handle.id} still runs"
        await asyncio.sleep(0.05)
    history = await handle.fetch_history()
    last = history.events[-1]
    assert last.HasField("workflow_execution_failed_event_attributes"), f"{handle.id} did not fail: {last}"
    failure = last.workflow_execution_failed_event_attributes.failure
    while failure.HasField("cause") and not failure.HasField("application_failure_info"):
        failure = failure.cause
    info = failure.application_failure_info
    # The message is in the failure's encoded attributes, encrypted with the payloads: read it with the keys.
    decoded = await DATA_CONVERTER.decode_failure(failure)
    return Refusal(info.type, str(decoded), info.non_retryable)


async def scheduled_activities(client: Client, workflow_id: str) -> list[str]:
    """The activities a workflow scheduled (its history's ActivityTaskScheduled events)."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


async def drive_to_refund(cases: CaseClient, case_id: str, data: dict[str, Any]) -> CaseStatus:
    """The real case: opened, approved, shipped back, received: refunded."""
    status = await cases.open("return", case_id, data)
    for i, (name, role, event_data) in enumerate(RETURN_EVENTS):
        status = await cases.event(case_id, name, role, sender_of(data, role), event_data, key=f"{case_id}/e{i}")
    return status


def no_forged_effect(outbox: Outbox) -> None:
    rows = outbox.list()
    assert not [r for r in rows if r["params"].get("amount") == STOLEN_AMOUNT], rows


def refund_rows(outbox: Outbox, case_id: str) -> list[tuple[str, float]]:
    return [(r["key"], float(r["params"]["amount"])) for r in outbox.list(case_id=case_id, type="refund")]
