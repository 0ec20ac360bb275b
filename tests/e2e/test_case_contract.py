"""What backend systems rely on: refusals leave no trace, cases keep their policy, starts are idempotent."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.outbox import Outbox
from bench.cases import sender_of
from policy_engine.testing import load_scenario
from starter import CaseClient, CaseConflict, CaseRefused, EventRefused
from tests.conftest import POLICIES, SCENARIOS
from tests.e2e.conftest import TASK_QUEUE
from tests.e2e.harness import Deferred, running_worker, time_skipping_server
from tests.principal import sign_event, signed_client
from workflows.contract import UPDATE_OPEN, UPDATE_SUBMIT_EVENT, CaseStatus, EventRequest

HAPPY = load_scenario(SCENARIOS / "return-no-reason-happy-path.yaml")


async def _fresh_data(env: WorkflowEnvironment) -> dict[str, object]:
    """The happy-path case data, delivered yesterday by the server's clock (inside the 7-day window)."""
    data = json.loads(json.dumps(HAPPY.data, default=str))
    data["order"]["delivered_at"] = (await env.get_current_time() - dt.timedelta(days=1)).isoformat()
    return data


async def _quiet_history_length(handle: WorkflowHandle[Any, Any]) -> int:
    """The history length once the opening's actions have run and the case waits (the open update
    answers as soon as the case is open, before its first notification is delivered)."""
    last = -1
    for _ in range(200):
        desc = await handle.describe()
        length = len((await handle.fetch_history()).events)
        if length == last and not desc.raw_description.pending_activities:
            return length
        last = length
        await asyncio.sleep(0.1)
    raise AssertionError("the case did not settle")


async def test_refused_updates_say_why_and_leave_no_trace(env: WorkflowEnvironment, outbox: Outbox) -> None:
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    await cases.open("return", "E2E-REFUSE-1", await _fresh_data(env))
    handle = cases.handle("E2E-REFUSE-1")
    before = await _quiet_history_length(handle)
    attempts = [
        (EventRequest(name="return_delivered", role="system"), "not accepted in state 'awaiting_merchant'"),
        (EventRequest(name="merchant_approve", role="customer", actor_id="C-1"), "role 'customer' may not send"),
        # Another merchant than the case's own (M-1): refused without the sender's id in the reason.
        (
            EventRequest(name="merchant_approve", role="merchant", actor_id="M-2"),
            "the sender is not this case's merchant",
        ),
        (
            EventRequest(name="merchant_reject", role="merchant", actor_id="M-1", data={"reason": 42}),
            "invalid data for 'merchant_reject'",
        ),
        (EventRequest(name="teleport", role="merchant"), "unknown event: 'return' cases declare no event of that name"),
    ]
    for request, reason in attempts:
        with pytest.raises(WorkflowUpdateFailedError) as info:
            signed = sign_event("E2E-REFUSE-1", request, now=await env.get_current_time())
            await handle.execute_update(UPDATE_SUBMIT_EVENT, signed, result_type=CaseStatus)
        assert reason in str(info.value.cause)
        assert "M-2" not in str(info.value.cause)
    history = await handle.fetch_history()
    # No update was accepted or recorded: at most the empty workflow tasks that ran the validator (the
    # time-skipping test server writes them; a real server's speculative tasks leave nothing at all).
    task_events = {
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    }
    assert all(e.event_type in task_events for e in history.events[before:])
    accepted = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    ]
    assert accepted == [UPDATE_OPEN]  # only the opening's own update
    text = history.to_json()
    assert "teleport" not in text
    status = await cases.status("E2E-REFUSE-1")
    assert status.state == "awaiting_merchant" and status.refused_events == 0
    # The client surfaces the same reason as a clear exception.
    with pytest.raises(EventRefused, match="may not send"):
        await cases.event("E2E-REFUSE-1", "merchant_approve", "customer", "C-1", {})


async def test_events_with_the_same_key_apply_once(env: WorkflowEnvironment, outbox: Outbox) -> None:
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    await cases.open("return", "E2E-KEY-1", await _fresh_data(env))
    first = await cases.event("E2E-KEY-1", "merchant_approve", "merchant", "M-1", {}, key="approve-1")
    again = await cases.event("E2E-KEY-1", "merchant_approve", "merchant", "M-1", {}, key="approve-1")
    assert first.state == again.state == "awaiting_shipment"
    assert again.duplicate
    approvals = [e for e in (await cases.timeline("E2E-KEY-1")).entries if e.name == "merchant_approve"]
    assert len(approvals) == 1


async def test_opening_is_idempotent_and_conflicts_are_clear(env: WorkflowEnvironment, outbox: Outbox) -> None:
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    data = await _fresh_data(env)
    a = await cases.open("return", "E2E-OPEN-1", data)
    b = await cases.open("return", "E2E-OPEN-1", data)
    assert a.opened_at == b.opened_at and a.policy_version == b.policy_version
    changed = {**data, "reason": "quality_defect"}
    with pytest.raises(CaseConflict):
        await cases.open("return", "E2E-OPEN-1", changed)
    # The conflicting open left no trace: the case still answers with its first data.
    assert (await cases.status("E2E-OPEN-1")).state == a.state


async def test_a_refused_opening_says_why_and_may_be_corrected(env: WorkflowEnvironment, outbox: Outbox) -> None:
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    good = await _fresh_data(env)
    bad = {**good, "reason": "boredom"}
    with pytest.raises(CaseRefused, match="reason"):
        await cases.open("return", "E2E-OPEN-BAD", bad)
    status = await cases.open("return", "E2E-OPEN-BAD", good)
    assert status.state == "awaiting_merchant" and not status.closed


async def test_a_case_keeps_its_policy_when_the_files_change(tmp_path: Path) -> None:
    # A server of its own: skipping 48 hours on the session's server would fire the timers of every
    # case the tests before left open, and wait for the worker to handle them all.
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder, ignore=shutil.ignore_patterns("tests"))
    queue = "aftersales-pinning"
    async with (
        time_skipping_server() as env,
        running_worker(env.client, folder, tmp_path / "o.sqlite3", queue, Deferred()),
    ):
        cases = signed_client(env.client, queue, clock=env.get_current_time)
        try:
            old = await cases.open("return", "E2E-PIN-OLD", await _fresh_data(env))
            assert old.deadlines[0].due - old.opened_at == dt.timedelta(hours=48)
            returns = folder / "returns.yaml"
            returns.write_text(
                returns.read_text(encoding="utf-8").replace("after: 48h  ", "after: 72h  "), encoding="utf-8"
            )
            new = await cases.open("return", "E2E-PIN-NEW", await _fresh_data(env))
            assert new.policy_version != old.policy_version
            assert new.deadlines[0].due - new.opened_at == dt.timedelta(hours=72)
            # The old case still runs on its pinned policy: 48 h later it is approved automatically.
            await env.sleep(48 * 3600 + 60)
            assert (await cases.status("E2E-PIN-OLD")).state == "awaiting_shipment"
            assert (await cases.status("E2E-PIN-NEW")).state == "awaiting_merchant"
            assert (await cases.status("E2E-PIN-OLD")).policy_version == old.policy_version
        finally:
            # Their timers would fire on a queue with no worker and hold the test server's clock still.
            for case_id in ("E2E-PIN-OLD", "E2E-PIN-NEW"):
                with contextlib.suppress(Exception):  # a case the test did not get to open
                    await cases.handle(case_id).terminate("test over")


HAPPY_EVENTS = [
    ("merchant_approve", "merchant", {}),
    ("return_shipped", "customer", {"tracking": "SF-1"}),
    ("return_delivered", "system", {}),
    ("confirm_receipt", "merchant", {}),
]


async def _upserted_names(cases: CaseClient, case_id: str, env: WorkflowEnvironment) -> list[list[str]]:
    opening = await _fresh_data(env)
    await cases.open("return", case_id, opening)
    for i, (name, role, data) in enumerate(HAPPY_EVENTS):
        await cases.event(case_id, name, role, sender_of(opening, role), data, key=f"{case_id}/{i}")
    handle = cases.handle(case_id)
    await handle.result()
    # Opening a case that has run to its end answers with its last status (the id stays taken).
    again = await cases.open("return", case_id, opening)
    assert again.closed and again.state == "refunded"
    with pytest.raises(CaseConflict):
        await cases.open("return", case_id, {**opening, "reason": "quality_defect"})
    return [
        sorted(e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
        for e in (await handle.fetch_history()).events
        if e.HasField("upsert_workflow_search_attributes_event_attributes")
    ]


async def test_case_state_is_listed_at_every_transition_or_only_at_the_end(
    env: WorkflowEnvironment, outbox: Outbox
) -> None:
    every = await _upserted_names(
        signed_client(env.client, TASK_QUEUE, clock=env.get_current_time), "E2E-LIST-ALL", env
    )
    assert len(every) == 6 and all("CaseState" in names for names in every)  # open, 4 events, refund
    ends = await _upserted_names(
        signed_client(env.client, TASK_QUEUE, list_by_state=False, clock=env.get_current_time), "E2E-LIST-ENDS", env
    )
    # Opening (everything but the state) and closing (the final state): two visibility writes.
    assert len(ends) == 2
    assert "CaseState" not in ends[0] and "MerchantId" in ends[0]
    assert ends[1] == ["CaseClosed", "CaseState"]
