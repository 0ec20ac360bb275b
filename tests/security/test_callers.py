"""Signed callers (docs/security.md): a call without a valid token is refused with the reason and has
no effect. The worker checks callers against the test principal's grants (tests.principal)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.outbox import Outbox
from bench.cases import return_case_data
from service.identity import mint, new_private_key
from starter import CaseClient, CaseRefused
from tests.e2e.harness import settled
from tests.principal import CUSTOMER_KEY, CUSTOMER_NAME, NAME, signed_client, token
from tests.security.conftest import TASK_QUEUE
from workflows.contract import CALLER_REFUSED, UPDATE_SUBMIT_EVENT, CaseStatus, EventRequest

APPROVE = EventRequest(name="merchant_approve", role="merchant", actor_id="M-1")


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


async def _open(env: WorkflowEnvironment) -> tuple[CaseClient, str]:
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    case_id = _id("SEC-CALLER")
    status = await cases.open("return", case_id, return_case_data(5, await env.get_current_time()))
    assert status.state == "awaiting_merchant"
    return cases, case_id


async def _refused(cases: CaseClient, case_id: str, request: EventRequest) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await cases.handle(case_id).execute_update(UPDATE_SUBMIT_EVENT, request, result_type=CaseStatus)
    return str(info.value.cause)


def _with(request: EventRequest, **changes: Any) -> EventRequest:
    return request.model_copy(update=changes)


async def test_events_without_a_valid_token_are_refused_with_the_reason(
    env: WorkflowEnvironment, outbox: Outbox
) -> None:
    cases, case_id = await _open(env)
    now = await env.get_current_time()
    other_key = new_private_key()
    attempts: list[tuple[str | None, str]] = [
        (None, "the event carries no token"),
        (mint(NAME, other_key, case_id=case_id, event=APPROVE.name, data={}, role="merchant", now=now), "(`kid`)"),
        (token(case_id, APPROVE.name, "merchant", {}, now - dt.timedelta(minutes=10)), "expired"),
        (
            mint(CUSTOMER_NAME, CUSTOMER_KEY, case_id=case_id, event=APPROVE.name, data={}, role="merchant", now=now),
            f"principal '{CUSTOMER_NAME}' may not act as merchant",
        ),
        (token("R-OTHER", APPROVE.name, "merchant", {}, now), "issued for another case"),
        (token(case_id, "merchant_reject", "merchant", {}, now), "issued for another event"),
        (token(case_id, APPROVE.name, "merchant", {"note": "x"}, now), "data differ"),
        (token(case_id, APPROVE.name, "customer", {}, now), "another role"),
    ]
    for signed, reason in attempts:
        said = await _refused(cases, case_id, _with(APPROVE, token=signed))
        assert CALLER_REFUSED in said and reason in said, (reason, said)
    status = await cases.status(case_id)
    assert status.state == "awaiting_merchant" and status.refused_events == 0
    assert outbox.list(case_id=case_id, type="refund") == []


async def test_a_token_is_used_once_per_case(env: WorkflowEnvironment, outbox: Outbox) -> None:
    cases, case_id = await _open(env)
    now = await env.get_current_time()
    signed = _with(APPROVE, token=token(case_id, APPROVE.name, "merchant", {}, now), key="approve-once")
    status = await cases.handle(case_id).execute_update(UPDATE_SUBMIT_EVENT, signed, result_type=CaseStatus)
    assert status.state != "awaiting_merchant"
    said = await _refused(cases, case_id, signed)  # the same token again, even with the same key
    assert CALLER_REFUSED in said and "used before" in said, said


async def test_a_signal_without_a_token_is_recorded_refused_and_not_applied(
    env: WorkflowEnvironment, outbox: Outbox
) -> None:
    cases, case_id = await _open(env)
    await cases.handle(case_id).signal("event", APPROVE)  # no token
    status, timeline = await settled(cases.handle(case_id))
    assert status.state == "awaiting_merchant"
    last = timeline.entries[-1]
    assert last.kind == "refused" and last.name == APPROVE.name, last
    assert last.detail["reason"].startswith(CALLER_REFUSED) and "no token" in last.detail["reason"]
    # Signed, the same signal is applied.
    await cases.signal(case_id, APPROVE.name, APPROVE.role, APPROVE.actor_id)
    status, _ = await settled(cases.handle(case_id))
    assert status.state != "awaiting_merchant"


async def test_an_opening_without_a_valid_token_is_refused(env: WorkflowEnvironment, outbox: Outbox) -> None:
    data = return_case_data(6, await env.get_current_time())
    unsigned = CaseClient(env.client, TASK_QUEUE)
    case_id = _id("SEC-OPEN")
    with pytest.raises(CaseRefused, match=f"{CALLER_REFUSED}: the event carries no token"):
        await unsigned.open("return", case_id, data)
    customer = CaseClient(env.client, TASK_QUEUE, principal=CUSTOMER_NAME, private_key=CUSTOMER_KEY)
    with pytest.raises(CaseRefused, match="may not open cases of this type"):
        await customer.open("return", _id("SEC-OPEN"), data)
    assert outbox.list(case_id=case_id) == []
    # The refused id may be opened by a caller that may.
    status = await signed_client(env.client, TASK_QUEUE, clock=env.get_current_time).open("return", case_id, data)
    assert status.state == "awaiting_merchant"
