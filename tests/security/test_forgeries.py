"""Every forgery attackers made, against a real worker on the time-skipping server (backdating off, as
in production): each ends refused with a reason, no forged effect reaches the outbox, and the real
case is unharmed (its refund written once, under its own key, for its own amount).

README "Security model" says what is trusted and what is not; docs/changing-the-workflow.md why none of
this changes how recorded cases replay.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio import workflow
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.case_activities import CaseActivities, OutboxSink
from activities.linked_cases import LINKED_CASE_TAKEN
from activities.outbox import Outbox
from activities.policy_source import PolicySource
from activities.start_checks import Backdating
from bench.cases import return_case_data
from policy_engine.language import PolicySet
from starter import CaseRefused, EventRefused
from tests.conftest import POLICIES
from tests.e2e.harness import Deferred, running_worker, settled
from tests.principal import sign_open, signed_client
from tests.security.attacks import (
    STOLEN_AMOUNT,
    drive_to_refund,
    engine_run,
    forged_pinned_start,
    no_forged_effect,
    refund_rows,
    refused_run,
    run_failure,
    scheduled_activities,
    victim,
)
from tests.security.conftest import TASK_QUEUE
from workflows.contract import (
    CASE_REFUSED,
    PLATFORM_ONLY,
    START_REFUSED,
    UPDATE_OPEN,
    ActionOutcome,
    ActionRequest,
    CaseStart,
    CaseStatus,
    OpenRequest,
    workflow_id_for,
)


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- a start no caller can forge -------------------------------------------------------------------


async def test_a_start_with_pinned_state_and_a_pending_refund_is_refused_and_the_real_refund_is_paid(
    env: WorkflowEnvironment, outbox: Outbox, policy_set: PolicySet
) -> None:
    now = await env.get_current_time()
    victim_id = _id("SEC-VICTIM")
    data, refund_key, amount = victim(policy_set, victim_id, 7, now)
    # The attack: a start of the case's workflow type carrying a state and a pending refund of
    # 99,999,999 under the victim's own idempotency key (it would have suppressed the real refund).
    forged = forged_pinned_start(policy_set, _id("SEC-ATTACKER"), victim_id, data, refund_key, now)
    error = await refused_run(env.client, forged, workflow_id_for(forged.open.case_id), TASK_QUEUE)
    assert error.type == START_REFUSED and error.non_retryable
    assert "opening request only" in error.message and "1 pending action" in error.message, error.message
    assert await scheduled_activities(env.client, workflow_id_for(forged.open.case_id)) == []  # nothing ran

    # The same start sent with the `open` update (as CaseClient opens): the update answers the reason.
    other = forged.model_copy(update={"open": forged.open.model_copy(update={"case_id": _id("SEC-ATTACKER")})})
    start = WithStartWorkflowOperation(
        "AfterSalesCase",
        other,
        id=workflow_id_for(other.open.case_id),
        task_queue=TASK_QUEUE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await env.client.execute_update_with_start_workflow(
            UPDATE_OPEN, other.open, start_workflow_operation=start, result_type=CaseStatus
        )
    assert isinstance(refused.value.cause, ApplicationError) and "opening request only" in refused.value.cause.message

    # The real case runs its course: its refund is written once, with its own amount.
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    await drive_to_refund(cases, victim_id, data)
    status, _ = await settled(cases.handle(victim_id))
    assert status.state == "refunded"
    assert refund_rows(outbox, victim_id) == [(refund_key, amount)]
    no_forged_effect(outbox)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"history_limit": 1}, "may not set history_limit"),
        ({"clock_offset_seconds": -21 * 86400.0}, "AFTERSALES_ALLOW_BACKDATING is off"),
    ],
    ids=["history-limit", "clock-offset"],
)
async def test_a_start_that_sets_the_history_limit_or_the_clock_is_refused(
    env: WorkflowEnvironment, outbox: Outbox, change: dict[str, Any], reason: str
) -> None:
    now = await env.get_current_time()
    case_id = _id("SEC-CLAIM")
    opening = sign_open(OpenRequest(case_id=case_id, case_type="return", data=return_case_data(3, now)), now=now)
    start = CaseStart(open=opening, **change)
    error = await refused_run(env.client, start, workflow_id_for(case_id), TASK_QUEUE)
    assert error.non_retryable and reason in error.message, error.message
    # The worker refused it while pinning the policy: no effect was scheduled.
    assert await scheduled_activities(env.client, workflow_id_for(case_id)) == ["resolve_policy"]
    assert outbox.list(case_id=case_id) == []


# --- opened_at is the server's time ------------------------------------------------------------------


async def test_a_backdated_opening_is_refused_and_leaves_the_id_free(env: WorkflowEnvironment, outbox: Outbox) -> None:
    """Backdated three weeks, a return delivered 22 days ago was inside its 7-day window and its 48 h
    merchant timer fired at once. Refused now; opened at the server's time it is out of its window."""
    now = await env.get_current_time()
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    case_id = _id("SEC-BACKDATED")
    data = return_case_data(5, now - dt.timedelta(days=21))  # delivered 22 days ago
    with pytest.raises(CaseRefused) as refused:
        await cases.open("return", case_id, data, now - dt.timedelta(days=21))
    message = str(refused.value)
    assert "21 days before the server's time" in message and "AFTERSALES_ALLOW_BACKDATING is off" in message
    assert "leave opened_at out" in message
    assert outbox.list(case_id=case_id) == []
    # The refused opening left the id free: opened now, the case is judged at the server's time.
    status = await cases.open("return", case_id, data)
    assert not status.duplicate and status.state == "rejected", status
    assert abs((status.opened_at - await env.get_current_time()).total_seconds()) < 60

    with pytest.raises(CaseRefused, match="after the server's time: a case cannot open in the future"):
        await cases.open("return", _id("SEC-FUTURE"), return_case_data(5, now), now + dt.timedelta(hours=2))
    # A few seconds off (clocks differ) is the server's time.
    near = await cases.open("return", _id("SEC-NEAR"), return_case_data(5, now), now - dt.timedelta(seconds=20))
    assert near.state == "awaiting_merchant"


async def test_a_worker_that_allows_backdating_opens_in_the_past_and_says_so(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    queue = "aftersales-security-import"
    allowed = Backdating(allowed=True)  # what AFTERSALES_ALLOW_BACKDATING=true gives: 400 days back at most
    async with running_worker(env.client, POLICIES, tmp_path / "o.sqlite3", queue, Deferred(), allowed):
        now = await env.get_current_time()
        cases = signed_client(env.client, queue, clock=env.get_current_time)
        case_id = _id("SEC-IMPORT")
        opened_at = now - dt.timedelta(days=21)
        status = await cases.open("return", case_id, return_case_data(5, opened_at), opened_at)
        assert status.opened_at == opened_at
        timeline = await cases.timeline(case_id)
        opening = next(e for e in timeline.entries if e.kind == "open")
        backdated = opening.detail["backdated"]
        assert round(backdated["seconds_before_server_time"] / 86400) == 21 and backdated["clock_offset_seconds"] == 0
        with pytest.raises(CaseRefused, match="more than the 400 days this worker allows"):
            old = now - dt.timedelta(days=500)
            await cases.open("return", _id("SEC-IMPORT"), return_case_data(5, old), old)


# --- linked cases cannot be claimed in advance ---------------------------------------------------------


def _repair_data(now: dt.datetime) -> dict[str, Any]:
    return {
        "channel": "app",
        "customer": {"id": "C-9", "tier": "regular", "locale": "zh-CN"},
        "order": {
            "id": "O-9",
            "merchant_id": "M-1",
            "paid_at": (now - dt.timedelta(days=8)).isoformat(),
            "shipped_at": (now - dt.timedelta(days=7)).isoformat(),
            "delivered_at": (now - dt.timedelta(days=3)).isoformat(),
            "amount": 2999.0,
            "currency": "CNY",
        },
        "item": {"sku": "SKU-PH1", "category": "phone", "price": 2999.0, "quantity": 1},
        "fault": {"kind": "performance", "description": "it will not charge"},
    }


RETURN_REMEDY = ("choose_remedy", "customer", {"remedy": "return"})


async def test_a_linked_case_id_opened_in_advance_is_not_attached(
    env: WorkflowEnvironment, outbox: Outbox, policy_set: PolicySet
) -> None:
    now = await env.get_current_time()
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    data = _repair_data(now)
    parent = _id("SEC-RP")
    _, _, actions = engine_run(policy_set, "repair", parent, data, [RETURN_REMEDY], now)
    link = next(a for a in actions if a.type == "open_case")
    linked_id = str(link.params["case_id"])
    # The squatter opens the linked id first, with exactly the opening the parent will send (its links
    # included): a perfect copy, but opened before the parent asked for it.
    copy = CaseStart(
        open=sign_open(
            OpenRequest(
                case_id=linked_id,
                case_type="return",
                data=link.params["data"],
                links={"linked_to": parent, "opened_by": link.key},
            ),
            now=now,
        )
    )
    await env.client.start_workflow("AfterSalesCase", copy, id=workflow_id_for(linked_id), task_queue=TASK_QUEUE)

    await cases.open("repair", parent, data)
    status = await cases.event(parent, *RETURN_REMEDY[:2], "C-9", RETURN_REMEDY[2])
    assert status.state == "converted"
    _, timeline = await settled(cases.handle(parent))
    failed = [e for e in timeline.entries if e.kind == "action" and e.name == "open_case" and e.detail.get("error")]
    assert len(failed) == 1, timeline.entries
    assert "before this case asked for it" in failed[0].detail["error"] and "not attached" in failed[0].detail["error"]
    assert outbox.list(case_id=parent, type="open_case") == []

    # Without a squatter the parent opens its linked case and attaches to it (a retry would, too).
    honest = _id("SEC-RP")
    await cases.open("repair", honest, data)
    await cases.event(honest, *RETURN_REMEDY[:2], "C-9", RETURN_REMEDY[2])
    await settled(cases.handle(honest))
    rows = outbox.list(case_id=honest, type="open_case")
    assert len(rows) == 1 and rows[0]["params"]["case_id"] == f"{honest}{linked_id.removeprefix(parent)}"
    opened = await cases.client.get_workflow_handle(workflow_id_for(rows[0]["params"]["case_id"])).query(
        "opening", result_type=OpenRequest
    )
    assert opened.links == {"linked_to": honest, "opened_by": rows[0]["key"]}


# --- the worker's own reports ------------------------------------------------------------------------


async def test_a_report_the_platform_sends_is_refused_from_anyone_else(
    env: WorkflowEnvironment, outbox: Outbox, deferred: Deferred, policy_set: PolicySet
) -> None:
    now = await env.get_current_time()
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    case_id = _id("SEC-REPORT")
    data, refund_key, amount = victim(policy_set, case_id, 11, now)
    deferred.by_case[case_id] = {"refund_completed"}  # the payment service answers later (a callback)

    await cases.open("return", case_id, data)
    with pytest.raises(EventRefused, match=PLATFORM_ONLY):  # before the refund, too: it is never theirs
        await cases.event(case_id, "refund_completed", "system", "payments")
    status = await drive_to_refund(cases, case_id, data)
    assert status.state == "refunding"  # waiting for the payment service

    for key in (None, f"report:{refund_key}", refund_key):  # no key, or keys anyone could guess
        with pytest.raises(EventRefused) as refused:
            await cases.event(case_id, "refund_completed", "system", "payments", key=key)
        assert f"'refund_completed' {PLATFORM_ONLY}" in str(refused.value)
    await cases.signal(case_id, "refund_completed", "system", "payments")  # fire and forget
    status, timeline = await settled(cases.handle(case_id))
    assert status.state == "refunding"
    last = timeline.entries[-1]
    assert last.kind == "refused" and PLATFORM_ONLY in last.detail["reason"], last

    # The payment service answers with the report key its effect carried (the outbox row): applied once.
    report_key = outbox.report_key_of(refund_key)
    assert report_key
    status = await cases.event(case_id, "refund_completed", "system", "payments", key=report_key)
    assert status.state == "refunded" and not status.duplicate
    again = await cases.event(case_id, "refund_completed", "system", "payments", key=report_key)
    assert again.duplicate
    assert refund_rows(outbox, case_id) == [(refund_key, amount)]


# --- effects belong to their case ------------------------------------------------------------------------


@workflow.defn(name="RogueCase")
class RogueCase:
    """A workflow that asks the case activities for another case's effects (not a real case)."""

    @workflow.run
    async def run(self, request: ActionRequest) -> ActionOutcome:
        activity = "open_linked_case" if request.type == "open_case" else "run_action"
        return await workflow.execute_activity(
            activity,
            request,
            result_type=ActionOutcome,
            start_to_close_timeout=dt.timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )


@pytest_asyncio.fixture(scope="module")
async def rogue_queue(env: WorkflowEnvironment, outbox_path: Path) -> AsyncIterator[str]:
    queue = "aftersales-security-rogue"
    acts = CaseActivities(
        PolicySource(POLICIES, check_every=0), OutboxSink(Outbox(outbox_path)), lambda: env.client, task_queue=queue
    )
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[RogueCase],
            activities=acts.activities(),
            activity_executor=executor,
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            yield queue


def _action(case_id: str, key: str, **changes: Any) -> ActionRequest:
    fields: dict[str, Any] = {
        "case_id": case_id,
        "case_type": "return",
        "workflow_id": workflow_id_for(case_id),
        "policy_version": "v",
        "key": key,
        "type": "refund",
        "params": {"amount": STOLEN_AMOUNT},
    }
    return ActionRequest(**(fields | changes))


@pytest.mark.parametrize(
    ("rogue", "request_of", "reason"),
    [
        # In another workflow, an action naming the victim's case and key.
        ("SEC-ROGUE", lambda rogue, v: _action(v, f"{v}/5/refund"), "asked for it"),
        # Its own case, the victim's key.
        ("SEC-ROGUE", lambda rogue, v: _action(rogue, f"{v}/5/refund"), "does not belong to case"),
        # Its own case and key, opening a case named after the victim's.
        (
            "SEC-ROGUE",
            lambda rogue, v: _action(
                rogue,
                f"{rogue}/2/open_case",
                type="open_case",
                params={"case_type": "return", "case_id": f"{v}-return-2", "data": {}, "linked_to": rogue},
            ),
            "not derived from",
        ),
    ],
    ids=["other-case", "other-key", "other-linked-id"],
)
async def test_an_action_of_another_case_is_refused_before_any_effect(
    env: WorkflowEnvironment, outbox: Outbox, rogue_queue: str, rogue: str, request_of: Any, reason: str
) -> None:
    rogue_id, victim_id = _id(rogue), _id("SEC-VICTIM")
    request = request_of(rogue_id, victim_id)
    handle = await env.client.start_workflow(
        RogueCase.run, request, id=workflow_id_for(rogue_id), task_queue=rogue_queue
    )
    failure = await run_failure(handle)
    assert failure.type == "InvalidAction" and failure.non_retryable and reason in failure.message, failure
    history = await handle.fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert attempts == [1]  # refused once, not retried
    assert outbox.list(case_id=victim_id) == [] and outbox.list(case_id=rogue_id) == []
    no_forged_effect(outbox)


def test_error_types_are_distinct() -> None:
    assert len({START_REFUSED, CASE_REFUSED, LINKED_CASE_TAKEN, "InvalidAction"}) == 4
