"""Cases are bounded whatever callers send (workflows.bounds, workflows.compaction), on the
time-skipping server: large or many refused signals never stop a case at continue-as-new, a large
update never reaches the server through CaseClient and is refused by the validator when sent raw,
bad ids are refused everywhere, and a refused opening leaves its id free for a corrected one."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities.outbox import Outbox
from bench.cases import RETURN_EVENTS, return_case_data, sender_of
from starter import CaseClient, CaseError, CaseRefused, InvalidRequest
from tests.cli import aftersales
from tests.conftest import POLICIES
from tests.e2e.harness import SCENARIO_DATES, Deferred, running_worker
from tests.principal import sign_event, sign_open, signed_client
from workflows.bounds import CASE_ID_RULE
from workflows.case_workflow import AfterSalesCase
from workflows.compaction import CARRIED_ENTRIES, EARLIER
from workflows.contract import (
    CASE_REFUSED,
    QUERY_IDLE,
    UPDATE_SUBMIT_EVENT,
    CaseStart,
    CaseStatus,
    EventRequest,
    OpenRequest,
    workflow_id_for,
)

TASK_QUEUE = "aftersales-bounds"
EVENT_CAP = "AFTERSALES_MAX_EVENT_DATA_BYTES"
# The ids of the report: empty, NUL, a newline, a right-to-left override, 2,000 characters.
BAD_IDS = ["", "R\x001", "R-1\nR-2", "R-\u202e1", "R" * 2000]
LEFT_OPEN: list[str] = []  # cases the tests leave open, terminated when the module's worker stops


@pytest_asyncio.fixture(scope="module")
async def bounded_outbox(env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Outbox]:
    """A worker that lets a start set a small history limit (continue-as-new within a few events)."""
    allowed = dataclasses.replace(SCENARIO_DATES, history_limit=True)
    path: Path = tmp_path_factory.mktemp("bounds") / "outbox.sqlite3"
    async with running_worker(env.client, POLICIES, path, TASK_QUEUE, Deferred(), allowed) as box:
        yield box
        # Timers of cases left open would fire on a queue with no worker and hold the test server's
        # clock still for the tests that come after.
        for case_id in LEFT_OPEN:
            with contextlib.suppress(RPCError):
                await env.client.get_workflow_handle(workflow_id_for(case_id)).terminate("test over")


def _id(prefix: str) -> str:
    case_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
    LEFT_OPEN.append(case_id)
    return case_id


async def _start(env: WorkflowEnvironment, case_id: str, history_limit: int) -> tuple[WorkflowHandle[Any, Any], Any]:
    now = await env.get_current_time()
    data = return_case_data(1, now)
    start = CaseStart(
        open=sign_open(OpenRequest(case_id=case_id, case_type="return", data=data), now=now),
        history_limit=history_limit,
    )
    handle = await env.client.start_workflow(
        AfterSalesCase.run, start, id=workflow_id_for(case_id), task_queue=TASK_QUEUE
    )
    return handle, data


async def _until(check: Any, patience: float = 60.0) -> None:
    """Poll `check` until it holds. A query the server gave up on counts as not yet: a case working
    through thousands of signals in one task answers queries only after it (on a busy machine, later
    than a query's deadline), and what is checked here is where the case gets, not how fast."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while not await _answered(check):
        assert loop.time() < deadline, "the case did not get there"
        await asyncio.sleep(0.1)


async def _answered(check: Any) -> bool:
    try:
        return bool(await check())
    except CaseError as exc:
        if "did not answer" not in str(exc):
            raise
    except RPCError as exc:
        if exc.status != RPCStatusCode.DEADLINE_EXCEEDED:
            raise
    return False


async def _carried_bytes(env: WorkflowEnvironment, case_id: str) -> int:
    """The size of the current run's input: what the last continue-as-new carried."""
    async for event in env.client.get_workflow_handle(workflow_id_for(case_id)).fetch_history_events():
        return sum(len(p.data) for p in event.workflow_execution_started_event_attributes.input.payloads)
    raise AssertionError("no history")


async def _run_the_return(cases: CaseClient, case_id: str, data: dict[str, Any]) -> CaseStatus:
    """The return's events to its refund; the case's final status (it closes once the refund is done)."""
    for name, role, event_data in RETURN_EVENTS:
        await cases.event(case_id, name, role, sender_of(data, role), event_data)
    handle = cases.client.get_workflow_handle_for(AfterSalesCase.run, workflow_id_for(case_id))
    return await handle.result()


async def test_six_large_refused_signals_then_continue_as_new_the_case_still_works(
    env: WorkflowEnvironment, bounded_outbox: Outbox
) -> None:
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    case_id = _id("BIG-SIGNALS")
    handle, data = await _start(env, case_id, history_limit=12)
    first_run = handle.result_run_id
    large = {"note": "x" * 900_000}
    for _ in range(6):
        request = EventRequest(name="merchant_approve", role="merchant", actor_id="M-1", data=large)
        await handle.signal("event", sign_event(case_id, request, now=await env.get_current_time()))
    await _until(lambda: _refused_count(cases, case_id, 6))
    status = await _run_the_return(cases, case_id, data)
    assert status.closed and status.refused_events == 6
    latest = await env.client.get_workflow_handle(workflow_id_for(case_id)).describe()
    assert latest.run_id != first_run  # it continued as new, carrying the case
    refused = [e for e in (await cases.timeline(case_id)).entries if e.kind == "refused"]
    assert len(refused) == 6
    for entry in refused:
        assert EVENT_CAP in entry.detail["reason"] and entry.detail["data"] == {}
        assert entry.detail["data_bytes"] == 900_011 and len(entry.detail["data_sha256"]) == 64
    assert len(bounded_outbox.list(case_id=case_id, type="refund")) == 1


async def _refused_count(cases: CaseClient, case_id: str, at_least: int) -> bool:
    return (await cases.status(case_id)).refused_events >= at_least


async def test_thousands_of_refusals_keep_the_carried_case_small(
    env: WorkflowEnvironment, bounded_outbox: Outbox
) -> None:
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    case_id = _id("MANY-REFUSALS")
    handle, data = await _start(env, case_id, history_limit=400)
    await _until(lambda: handle.query(QUERY_IDLE, result_type=bool))
    opened_with = len((await cases.timeline(case_id)).entries)  # the opening's entries
    refusals = 2_100
    # Every seventh signed, admitted and refused by the policy (the wrong state, its data in the entry);
    # the others refused by the case's bounds (a key longer than any case keeps), which is quicker.
    over_key = EventRequest(name="merchant_approve", role="merchant", actor_id="M-1", key="k" * 129)

    async def refused(i: int) -> None:
        if i % 7 == 0:
            await cases.signal(case_id, "return_delivered", "system", "carrier", {"scan": i})
        else:
            await handle.signal("event", over_key)

    for batch in range(0, refusals, 100):
        await asyncio.gather(*(refused(i) for i in range(batch, min(batch + 100, refusals))))
    await _until(lambda: _refused_count(cases, case_id, refusals))
    await _until(lambda: handle.query(QUERY_IDLE, result_type=bool))
    timeline = (await cases.timeline(case_id)).entries
    opening = timeline[0]
    assert opening.kind == "open" and len(timeline) <= 1 + CARRIED_ENTRIES + 40
    # Every entry is in the timeline or counted as left in an earlier run.
    assert opening.detail[EARLIER]["entries"] + len(timeline) == opened_with + refusals
    assert await _carried_bytes(env, case_id) < 256 * 1024
    status = await _run_the_return(cases, case_id, data)  # and the case still works
    assert status.closed


async def test_a_large_update_is_refused_before_sending_and_by_the_validator(
    env: WorkflowEnvironment, bounded_outbox: Outbox
) -> None:
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    case_id = _id("BIG-UPDATE")
    data = return_case_data(1, await env.get_current_time())
    await cases.open("return", case_id, data)
    handle = cases.handle(case_id)
    await _until(lambda: handle.query(QUERY_IDLE, result_type=bool))
    before = len((await handle.fetch_history()).events)
    large = {"note": "x" * 2_500_000}
    with pytest.raises(InvalidRequest) as refused:
        await cases.event(case_id, "merchant_approve", "merchant", "M-1", large)
    assert EVENT_CAP in str(refused.value) and "2,500,011 bytes" in str(refused.value)
    assert len((await handle.fetch_history()).events) == before  # nothing reached the server
    request = EventRequest(name="merchant_approve", role="merchant", actor_id="M-1", data=large)
    with pytest.raises(WorkflowUpdateFailedError) as raw:
        await handle.execute_update(
            UPDATE_SUBMIT_EVENT, sign_event(case_id, request, await env.get_current_time()), result_type=CaseStatus
        )
    assert EVENT_CAP in str(raw.value.cause)
    history = await handle.fetch_history()
    # No update accepted: at most the empty workflow task that ran the validator (the time-skipping
    # server writes it; a real server's speculative task leaves nothing), and none of the data.
    task_events = {
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    }
    assert all(e.event_type in task_events for e in history.events[before:])
    assert len(history.to_json()) < 200_000
    status = await cases.event(case_id, "merchant_approve", "merchant", "M-1")
    assert status.state != "awaiting_merchant"


@pytest.mark.parametrize("case_id", BAD_IDS, ids=["empty", "nul", "newline", "rtl-override", "2000-chars"])
async def test_a_bad_id_is_refused_by_the_client_and_by_the_workflow(
    env: WorkflowEnvironment, bounded_outbox: Outbox, case_id: str
) -> None:
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    data = return_case_data(1, await env.get_current_time())
    with pytest.raises(InvalidRequest) as refused:
        await cases.open("return", case_id, data)
    assert CASE_ID_RULE in str(refused.value) and (len(case_id) < 2 or case_id not in str(refused.value))
    with pytest.raises(InvalidRequest):
        await cases.event(case_id, "merchant_approve", "merchant", "M-1")
    # Started directly, bypassing CaseClient (under a workflow id the server takes): refused at once.
    workflow_id = _id("case-raw")
    now = await env.get_current_time()
    start = CaseStart(open=sign_open(OpenRequest(case_id=case_id, case_type="return", data=data), now=now))
    handle = await env.client.start_workflow(AfterSalesCase.run, start, id=workflow_id, task_queue=TASK_QUEUE)
    with pytest.raises(WorkflowFailureError) as failed:
        await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == CASE_REFUSED and CASE_ID_RULE in cause.message
    events = (await handle.fetch_history()).events
    assert not any(e.HasField("activity_task_scheduled_event_attributes") for e in events)  # nothing ran


@pytest.mark.parametrize("case_id", BAD_IDS[1:], ids=["nul", "newline", "rtl-override", "2000-chars"])
def test_a_bad_id_is_refused_by_the_command_line(tmp_path: Path, case_id: str) -> None:
    case_file = tmp_path / "case.json"
    escaped = case_id.encode("unicode_escape").decode().replace('"', '\\"')
    case_file.write_text(f'{{"case_type": "return", "case_id": "{escaped}", "data": {{}}}}', encoding="utf-8")
    opened = aftersales("case", "open", str(case_file))
    assert opened.returncode == 2 and CASE_ID_RULE in opened.stderr, opened.stderr
    if "\x00" not in case_id:  # a NUL cannot be passed on a command line at all
        sent = aftersales("case", "event", case_id, "merchant_approve", "--role", "merchant")
        assert sent.returncode == 2 and CASE_ID_RULE in sent.stderr, sent.stderr


async def test_a_refused_opening_leaves_the_id_free_for_a_corrected_one(
    env: WorkflowEnvironment, bounded_outbox: Outbox
) -> None:
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    case_id = _id("REOPEN")
    data = return_case_data(1, await env.get_current_time())
    oversized = {**data, "note": "x" * 100_000}
    # Past the client's own check (a client with larger caps than the worker's): the worker refuses.
    lenient = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    lenient.limits = lenient.limits.model_copy(update={"case_data_bytes": 10**6})
    with pytest.raises(CaseRefused) as refused:
        await lenient.open("return", case_id, oversized, wait=20)
    assert "AFTERSALES_MAX_CASE_DATA_BYTES" in str(refused.value) and "is a worker running" not in str(refused.value)
    with pytest.raises(CaseRefused):  # the refusal is what the case says from now on
        await cases.status(case_id)
    status = await cases.open("return", case_id, data)
    assert status.state == "awaiting_merchant" and not status.duplicate
    again = await cases.open("return", case_id, data)
    assert again.duplicate


async def test_an_opening_the_policy_cannot_compute_is_refused_with_a_reason(
    env: WorkflowEnvironment, bounded_outbox: Outbox
) -> None:
    """A delivery date at the end of the calendar overflows the return window: refused, not stuck."""
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    case_id = _id("OVERFLOW")
    data = return_case_data(1, await env.get_current_time())
    far = {**data, "order": {**data["order"], "delivered_at": "9999-12-31T00:00:00+00:00"}}
    with pytest.raises(CaseRefused) as refused:
        await cases.open("return", case_id, far, wait=20)
    # The engine names the field and the window it broke, never the value (9999 is the caller's).
    assert str(refused.value) == (
        "the case data is out of range\n  - `case.order.delivered_at` put window 'no_reason_return' out of range"
    )
    assert "9999" not in str(refused.value)
    status = await cases.open("return", case_id, data)
    assert status.state == "awaiting_merchant"
