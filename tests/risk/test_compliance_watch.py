"""The scheduled risk watch on a Temporal server: reviews opened once per scheduled time, and the schedule."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities.case_activities import CaseActivities, OutboxSink
from activities.outbox import Outbox
from activities.policy_source import PolicySource
from activities.risk_activities import RiskActivities, review_case_id
from bench.cases import return_case_data
from risk.schedule import SCHEDULE_ID, ensure_schedule
from tests.conftest import POLICIES
from tests.e2e.harness import in_memory_dev_server, register_search_attributes
from tests.principal import DATA_CONVERTER, GATE, signed_client
from tests.risk.test_watch import GeneratedCase, write
from worker import workflow_runner
from workflows.case_workflow import AfterSalesCase
from workflows.compliance_workflow import COMPLIANCE_WORKFLOW, ComplianceWatch, WatchRequest, WatchResult
from workflows.contract import QUERY_STATUS, CaseStatus, workflow_id_for


def _ledger(tmp_path: Path, as_of: dt.datetime) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    day = as_of - dt.timedelta(days=2)
    cases = [GeneratedCase(f"B-{n}", "M-bad", "complaint", day, ["breached"], [1]) for n in range(12)]
    cases += [GeneratedCase(f"G-{n}", "M-good", "return", day, ["met"], [5]) for n in range(12)]
    write(url, cases)
    return url


async def _watch(client: Client, task_queue: str, as_of: dt.datetime) -> WatchResult:
    return await client.execute_workflow(
        COMPLIANCE_WORKFLOW,
        WatchRequest(as_of=as_of),
        id=f"risk-watch-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        result_type=WatchResult,
    )


def _worker(client: Client, tmp_path: Path, url: str, task_queue: str) -> Worker:
    cases = CaseActivities(
        PolicySource(POLICIES, check_every=0),
        OutboxSink(Outbox(tmp_path / "outbox.sqlite3")),
        lambda: client,
        task_queue=task_queue,
        callers=GATE,
    )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[AfterSalesCase, ComplianceWatch],
        activities=[*cases.activities(), *RiskActivities(POLICIES, url, cases).activities()],
        activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=4),
        workflow_runner=workflow_runner(),
    )


@asynccontextmanager
async def _watching(tmp_path: Path) -> AsyncIterator[tuple[Client, dt.datetime, str]]:
    """A dev server, the test ledger (M-bad crosses a rule) and a worker: the client, the scheduled
    time the watch runs for, and the id of M-bad's review for that time."""
    with in_memory_dev_server(tmp_path) as address:
        client = await Client.connect(address, data_converter=DATA_CONVERTER)
        await register_search_attributes(client)
        as_of = dt.datetime.now(dt.UTC).replace(microsecond=0)
        url = _ledger(tmp_path, as_of)
        async with _worker(client, tmp_path, url, "risk-tests"):
            yield client, as_of, review_case_id("M-bad", as_of)


async def test_a_scheduled_time_opens_its_reviews_once(tmp_path: Path) -> None:
    async with _watching(tmp_path) as (client, as_of, review):
        first = await _watch(client, "risk-tests", as_of)
        again = await _watch(client, "risk-tests", as_of)  # a repeated run for the same scheduled time
        later = await _watch(client, "risk-tests", as_of + dt.timedelta(days=1))  # the next day's run
        status = await client.get_workflow_handle(workflow_id_for(review)).query(QUERY_STATUS, result_type=CaseStatus)
    assert (first.window_end, first.window_start) == (as_of, as_of - dt.timedelta(days=30))
    assert first.merchants == 2
    assert first.outcomes == {review: "opened"}
    assert again.outcomes == {review: "already opened"}
    assert later.outcomes == {review_case_id("M-bad", as_of + dt.timedelta(days=1)): "under review"}
    assert status.state == "awaiting_plan"


def _squatter_opening(as_of: dt.datetime, kind: str) -> tuple[str, dict[str, object]]:
    """What a caller granted to open cases puts under a review's predictable id before the watch runs."""
    if kind == "a return":
        return "return", return_case_data(1, as_of)
    window = {"window_start": (as_of - dt.timedelta(days=30)).isoformat(), "window_end": as_of.isoformat()}
    figures = {"cases": 40, "complaints": 12, "clocks_ended": 38, "clocks_breached": 2, "answers": 20, "satisfied": 19}
    return "merchant_review", {"merchant_id": "M-good", **window, "figures": figures, "crossed": ["many-complaints"]}


@pytest.mark.parametrize("kind", ["a return", "another merchant's review"])
async def test_a_review_id_someone_else_holds_is_not_taken_for_the_review(tmp_path: Path, kind: str) -> None:
    async with _watching(tmp_path) as (client, as_of, review):
        case_type, data = _squatter_opening(as_of, kind)
        await signed_client(client, "risk-tests").open(case_type, review, data)
        watched = await _watch(client, "risk-tests", as_of)
        status = await client.get_workflow_handle(workflow_id_for(review)).query(QUERY_STATUS, result_type=CaseStatus)
    assert watched.outcomes == {review: "taken"}
    assert status.case_type == case_type  # the squatter's case, left as it was


@pytest.mark.parametrize("every", [dt.timedelta(days=1)])
async def test_the_schedule_command_creates_then_updates(tmp_path: Path, every: dt.timedelta) -> None:
    with in_memory_dev_server(tmp_path) as address:
        client = await Client.connect(address, data_converter=DATA_CONVERTER)
        assert await ensure_schedule(client, every, "risk-tests") == "created"
        assert await ensure_schedule(client, dt.timedelta(hours=12), "risk-tests") == "updated"
        description = await client.get_schedule_handle(SCHEDULE_ID).describe()
    assert [i.every for i in description.schedule.spec.intervals] == [dt.timedelta(hours=12)]
