"""The audit tools on a real dev server (visibility queries, resets): `audit verify --closed-since`
and `--query`, `simulate --compare --cases|--closed-since`, and a case reset to an earlier point and
driven differently."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import uuid
from pathlib import Path

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, ResetReapplyType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client

from activities.outbox import Outbox
from audit.cases import case_ids_matching
from audit.history import fetch_case
from audit.verify import verify_case
from bench.cases import RETURN_EVENTS, return_case_data, sender_of
from starter import CaseClient
from tests.cli import ROOT, aftersales
from tests.conftest import POLICIES
from tests.e2e.harness import settled
from tests.principal import process_env, signed_client
from tests.worker_fixtures import dev_server_worker
from workflows.contract import workflow_id_for

PATIENCE = 30.0  # seconds the server's visibility store may take to list a closed case


server, client, task_queue, outbox = dev_server_worker("audit")


async def _refunded_case(cases: CaseClient, prefix: str, delivered_days_ago: int = 1) -> str:
    case_id = f"{prefix}-{uuid.uuid4().hex[:6]}"
    data = return_case_data(7, dt.datetime.now(dt.UTC) - dt.timedelta(days=delivered_days_ago - 1))
    await cases.open("return", case_id, data)
    for name, role, event_data in RETURN_EVENTS:
        await cases.event(case_id, name, role, sender_of(data, role), event_data)
    status, _ = await settled(cases.handle(case_id))
    assert status.state == "refunded"
    return case_id


async def _listed(client: Client, query: str, expected: set[str]) -> None:
    """Wait until the visibility store lists the cases (it is written after the history)."""
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while not expected <= set(await case_ids_matching(client, query)):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the server did not list {sorted(expected)} for {query!r}")
        await asyncio.sleep(0.2)


def _env(server: str, task_queue: str, folder: Path) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": server,
        "AFTERSALES_TASK_QUEUE": task_queue,
        "AFTERSALES_HOME": str(ROOT),
        "AFTERSALES_TIMEZONE": "Asia/Shanghai",
        **process_env(folder),
    }


async def test_closed_since_and_a_query_verify_exactly_the_cases_they_list(
    client: Client, server: str, task_queue: str, outbox: Outbox, tmp_path: Path
) -> None:
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    cases = signed_client(client, task_queue)
    closed = {await _refunded_case(cases, "AUDIT-CLOSED") for _ in range(2)}
    still_open = f"AUDIT-OPEN-{uuid.uuid4().hex[:6]}"
    await cases.open("return", still_open, return_case_data(8, dt.datetime.now(dt.UTC)))
    mine = f"TaskQueue = '{task_queue}'"
    await _listed(client, f"{mine} AND CloseTime >= '{before.strftime('%Y-%m-%dT%H:%M:%SZ')}'", closed)
    since = before.strftime("%Y-%m-%dT%H:%M:%S+00:00")

    result = aftersales(
        "audit", "verify", "--closed-since", since, "--query", mine, env=_env(server, task_queue, tmp_path)
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert {line.split()[0] for line in result.stdout.splitlines() if line.endswith(" verified")} == closed
    assert still_open not in result.stdout  # open: not closed since the date

    # A query alone lists open cases too, and each verifies as far as it got.
    requested = f"{mine} AND ExecutionStatus = 'Running'"
    await _listed(client, requested, {still_open})
    result = aftersales("audit", "verify", "--query", requested, env=_env(server, task_queue, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{still_open} verified"


async def test_simulate_compares_a_draft_on_the_cases_a_query_lists(
    client: Client, server: str, task_queue: str, outbox: Outbox, tmp_path: Path
) -> None:
    cases = signed_client(client, task_queue)
    case_id = await _refunded_case(cases, "AUDIT-WHATIF", delivered_days_ago=3)
    query = f"WorkflowId = '{workflow_id_for(case_id)}'"
    await _listed(client, query + " AND ExecutionStatus = 'Completed'", {case_id})
    # A draft that gives one day to return instead of seven: the case, asked three days after delivery,
    # would have been refused.
    draft = tmp_path / "draft"
    shutil.copytree(POLICIES, draft)
    returns = draft / "returns.yaml"
    week = "length: 7 calendar days         # CPL 25, 7D art. 10"
    text = returns.read_text(encoding="utf-8")
    assert week in text
    returns.write_text(text.replace(week, "length: 1 calendar days"), encoding="utf-8")
    env = _env(server, task_queue, tmp_path)

    same = aftersales("simulate", "--compare", str(POLICIES), str(POLICIES), "--cases", query, env=env)
    changed = aftersales("simulate", "--compare", str(POLICIES), str(draft), "--cases", query, env=env)
    since = aftersales(
        "simulate", "--compare", str(POLICIES), str(draft), "--closed-since", "2000-01-01", "--cases", query, env=env
    )

    assert same.returncode == 0, same.stdout + same.stderr
    assert same.stdout.strip() == "0 of 1 scenarios change outcome; 1 unchanged"
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert case_id in changed.stdout and "1 of 1 scenarios change outcome" in changed.stdout
    assert "refunded" in changed.stdout  # the final state it had, and would not have had
    assert since.stdout == changed.stdout  # closed since 2000: the same case


async def test_a_case_reset_and_driven_differently_verifies_the_record_it_went_on_with(
    client: Client, server: str, task_queue: str, outbox: Outbox, tmp_path: Path
) -> None:
    cases = signed_client(client, task_queue)
    case_id = f"AUDIT-RESET-{uuid.uuid4().hex[:6]}"
    data = return_case_data(9, dt.datetime.now(dt.UTC))
    await cases.open("return", case_id, data)
    approve, ship = RETURN_EVENTS[0], RETURN_EVENTS[1]
    await cases.event(case_id, approve[0], approve[1], sender_of(data, approve[1]), approve[2])
    await settled(cases.handle(case_id))
    # The workflow task that finished handling the approval: the reset point.
    handle = client.get_workflow_handle(workflow_id_for(case_id))
    events = [e async for e in handle.fetch_history_events()]
    point = max(e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    await cases.event(case_id, ship[0], ship[1], sender_of(data, ship[1]), ship[2])
    await settled(cases.handle(case_id))
    first_run = (await handle.describe()).run_id

    await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=handle.id, run_id=first_run),
            reason="the shipment was entered on the wrong case",
            workflow_task_finish_event_id=point,
            request_id=str(uuid.uuid4()),
            reset_reapply_type=ResetReapplyType.RESET_REAPPLY_TYPE_NONE,
        )
    )
    await cases.event(case_id, "customer_cancel", "customer", sender_of(data, "customer"), {})
    status, _ = await settled(cases.handle(case_id))
    assert status.state == "cancelled"

    case = await fetch_case(client, case_id)
    verdict = verify_case(case)

    assert verdict.divergences == []
    assert [i.request.name for i in case.inputs if i.request is not None] == ["merchant_approve", "customer_cancel"]
    # Reset after the approval and the notice it sent (the third input): the shipment was abandoned.
    assert [(r.after, r.base_run_id) for r in case.resets] == [(3, first_run)]
    assert verdict.notes and "the shipment was entered on the wrong case" in verdict.notes[0]
    # The command says so too.
    result = aftersales("audit", "verify", case_id, env=_env(server, task_queue, tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{case_id} verified"
    assert lines[1].startswith("  note: reset after input #3 result of notify ") and first_run in lines[1]
