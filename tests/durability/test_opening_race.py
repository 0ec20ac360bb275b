"""An event that reaches a case while it is still opening, made to happen on purpose.

A case opens in two workflow tasks: the first schedules the `resolve_policy` activity, the second
receives the policy and runs the engine's opening; until then the case has no state. `CaseClient.open`
waits for the opening, so the chaos test no longer sends events into that window. Here the event is
put into it deterministically, with no timing: the worker that would run the workflow task is not
running while the server holds the task, the event is sent, the server is asked (PollWorkflowExecution-
Update, stage ADMITTED) until it holds the update too, and only then does a worker start. The update
then arrives in the same workflow task as

- the start itself (the first task), or
- the `resolve_policy` result (the task that runs the opening).

What this guards: the check at the top of `AfterSalesCase._validate_event` that refuses an update
with "the case is still opening" while the case has no state (or in the task that finished the
opening). The designed outcome is checked: the update is refused, the refusal leaves no trace in
the history, the sender's retry (`CaseClient.event`) is applied once after the opening, and the
history replays without non-determinism. Without the check the validator reads the state it does not
have yet and the update is refused for a reason that is not "still opening" (so `CaseClient` does
not send it again and the caller is told the event was refused). The check's last clause,
`_opening_task()` (an update validated after the opening, in the task that finished it), is not
reached at either moment with temporalio 1.35: the worker gets the update and the policy in one
activation and runs update validators before it applies activity results, so the validator sees no
state yet. The test passes with that clause removed; the history replay below is what would catch
the non-determinism it was written against, should an SDK ever validate the update later.

A signal sent with the start is the other designed path: signals wait in the case's inbox and are
applied, once, after the opening.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, UpdateWorkflowExecutionLifecycleStage
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.update.v1 import UpdateRef, WaitPolicy
from temporalio.api.workflowservice.v1 import PollWorkflowExecutionUpdateRequest
from temporalio.client import Client, WorkflowHandle, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer, Worker

from activities.case_activities import CaseActivities, OutboxSink
from activities.outbox import Outbox
from activities.policy_source import PolicySource
from bench.cases import return_case_data
from tests.conftest import POLICIES
from tests.e2e.harness import Deferred, in_memory_dev_server, running_worker, settled
from tests.principal import GATE, sign_event, sign_open, signed_client
from worker import workflow_runner
from workflows.case_workflow import AfterSalesCase
from workflows.contract import (
    SIGNAL_EVENT,
    STILL_OPENING,
    UPDATE_SUBMIT_EVENT,
    CaseStart,
    CaseStatus,
    EventRequest,
    OpenRequest,
    workflow_id_for,
)

PATIENCE = 60.0  # seconds a condition may take on a loaded machine before the test gives up (liveness)
APPROVE = EventRequest(name="merchant_approve", role="merchant", actor_id="M-1", key="approve-1")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with in_memory_dev_server(tmp_path_factory.mktemp("opening-race")) as address:
        yield address


@pytest_asyncio.fixture
async def client(server: str) -> Client:
    return await Client.connect(server, data_converter=pydantic_data_converter)


@pytest.fixture
def task_queue() -> str:
    return f"opening-race-{uuid.uuid4().hex[:8]}"


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait for a condition the test itself brings about; PATIENCE only bounds a hung run."""
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {PATIENCE:.0f} s")
        await asyncio.sleep(0.05)


async def _events(handle: WorkflowHandle[Any, Any]) -> list[HistoryEvent]:
    return list((await handle.fetch_history()).events)


async def _reached(handle: WorkflowHandle[Any, Any], event_type: int) -> None:
    async def check() -> bool:
        return any(e.event_type == event_type for e in await _events(handle))

    await _eventually(check, f"event type {event_type} in {handle.id}")


async def _admitted(client: Client, workflow_id: str, update_id: str) -> None:
    """Until the server holds the update: NOT_FOUND before, an answer (stage ADMITTED or later) after."""
    request = PollWorkflowExecutionUpdateRequest(
        namespace=client.namespace,
        update_ref=UpdateRef(workflow_execution=WorkflowExecution(workflow_id=workflow_id), update_id=update_id),
        identity=client.identity,
        wait_policy=WaitPolicy(
            lifecycle_stage=UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED
        ),
    )

    async def check() -> bool:
        try:
            await client.workflow_service.poll_workflow_execution_update(request, timeout=dt.timedelta(seconds=5))
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    await _eventually(check, f"the server to admit update {update_id}")


@asynccontextmanager
async def _workflow_worker(client: Client, task_queue: str) -> AsyncIterator[None]:
    """Workflows only, nothing cached: its tasks never go to a sticky queue that outlives it."""
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[AfterSalesCase],
        workflow_runner=workflow_runner(),
        max_cached_workflows=0,
    ):
        yield


@asynccontextmanager
async def _activity_worker(client: Client, task_queue: str, outbox: Path) -> AsyncIterator[None]:
    acts = CaseActivities(
        PolicySource(POLICIES, check_every=0),
        OutboxSink(Outbox(outbox)),
        lambda: client,
        task_queue=task_queue,
        callers=GATE,
    )
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(client, task_queue=task_queue, activities=acts.activities(), activity_executor=executor):
            yield


async def _start(client: Client, task_queue: str, case_id: str, **kwargs: Any) -> WorkflowHandle[Any, Any]:
    data = return_case_data(1, dt.datetime.now(dt.UTC))
    return await client.start_workflow(
        AfterSalesCase.run,
        CaseStart(open=sign_open(OpenRequest(case_id=case_id, case_type="return", data=data))),
        id=workflow_id_for(case_id),
        task_queue=task_queue,
        **kwargs,
    )


def _replays(history: WorkflowHistory) -> Awaitable[Any]:
    replayer = Replayer(
        workflows=[AfterSalesCase], workflow_runner=workflow_runner(), data_converter=pydantic_data_converter
    )
    return replayer.replay_workflow(history, raise_on_replay_failure=True)


def _accepted_updates(events: list[HistoryEvent]) -> list[HistoryEvent]:
    return [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED]


def _opening_task_completed(events: list[HistoryEvent]) -> int:
    """The id of the WorkflowTaskCompleted event of the task that received the policy (ran the opening)."""
    resolved = next(
        e.event_id
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        and json.loads(e.activity_task_completed_event_attributes.result.payloads[0].data).get("policy_id")
    )
    return next(
        e.event_id
        for e in events
        if e.event_id > resolved and e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )


@pytest.mark.parametrize("moment", ["with-the-start", "with-the-policy"])
async def test_an_update_sent_while_the_case_opens_is_refused_then_applied_once(
    client: Client, task_queue: str, moment: str, tmp_path: Path
) -> None:
    case_id = f"RACE-{moment}-{uuid.uuid4().hex[:6]}"
    outbox_path = tmp_path / "outbox.sqlite3"
    handle = await _start(client, task_queue, case_id)
    if moment == "with-the-policy":
        # The first task schedules resolve_policy; then no workflow worker runs while the policy
        # comes back, so the task that would run the opening waits on the server.
        async with _workflow_worker(client, task_queue):
            await _reached(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        async with _activity_worker(client, task_queue, outbox_path):
            await _reached(handle, EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
    # Otherwise no worker has run at all: the first task (the start) waits on the server.
    sent = asyncio.ensure_future(
        handle.execute_update(
            UPDATE_SUBMIT_EVENT, sign_event(case_id, APPROVE), id=f"{case_id}-early", result_type=CaseStatus
        )
    )
    await _admitted(client, handle.id, f"{case_id}-early")
    # No workflow worker has polled since: the task is still waiting, and the update will ride on it.
    assert (await _events(handle))[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED

    async with running_worker(client, POLICIES, outbox_path, task_queue, Deferred()) as outbox:
        # The update reaches the case in the same workflow task as the start or the policy.
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await sent
        cause = refused.value.cause
        assert isinstance(cause, ApplicationError) and STILL_OPENING in cause.message, cause
        status, _ = await settled(handle)
        assert status.state == "awaiting_merchant"
        events = await _events(handle)
        assert not _accepted_updates(events), "a refused update left a trace in the history"

        # The sender's retry, as CaseClient does it, lands after the opening and is applied once.
        cases = signed_client(client, task_queue)
        answer = await cases.event(case_id, APPROVE.name, APPROVE.role, APPROVE.actor_id, key=APPROVE.key)
        assert answer.state == "awaiting_shipment" and not answer.duplicate
        status, timeline = await settled(handle)
        rows = outbox.list(case_id=case_id)

    assert status.state == "awaiting_shipment"
    kinds = [(e.kind, e.name) for e in timeline.entries if e.kind in ("open", "event", "refused")]
    assert kinds == [("open", "return"), ("event", "merchant_approve")], kinds
    assert [r["params"]["template"] for r in rows if r["type"] == "notify"] == ["new_request", "request_approved"]
    events = await _events(handle)
    accepted = _accepted_updates(events)
    assert len(accepted) == 1
    assert accepted[0].event_id > _opening_task_completed(events), "the event was accepted before the opening"
    await _replays(await handle.fetch_history())


async def test_a_signal_sent_with_the_start_waits_for_the_opening_and_is_applied_once(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    case_id = f"RACE-signal-{uuid.uuid4().hex[:6]}"
    # Signal-with-start puts the event into the first workflow task, before the case has state.
    handle = await _start(
        client, task_queue, case_id, start_signal=SIGNAL_EVENT, start_signal_args=[sign_event(case_id, APPROVE)]
    )
    async with running_worker(client, POLICIES, tmp_path / "outbox.sqlite3", task_queue, Deferred()) as outbox:
        status, timeline = await settled(handle)
        rows = outbox.list(case_id=case_id)
    assert status.state == "awaiting_shipment" and status.refused_events == 0
    kinds = [(e.kind, e.name) for e in timeline.entries if e.kind in ("open", "event", "refused")]
    assert kinds == [("open", "return"), ("event", "merchant_approve")], kinds
    assert [r["params"]["template"] for r in rows if r["type"] == "notify"] == ["new_request", "request_approved"]
    await _replays(await handle.fetch_history())
