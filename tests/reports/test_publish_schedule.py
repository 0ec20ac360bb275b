"""The publication on a Temporal server: scheduled and repeated runs, the schedules, `report publish` by hand.

One dev server for the module; each test has its own task queue, worker, ledger and folder.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.client import Client, ScheduleBackfill, ScheduleOverlapPolicy, ScheduleRange, WorkflowExecutionStatus
from temporalio.worker import Worker

from activities.case_activities import OutboxSink
from activities.outbox import Outbox
from activities.report_activities import EFFECT_TYPE, Published, ReportActivities
from reports.schedule import ensure_schedule, run_id_prefix, schedule_id
from tests.cli import ROOT, aftersales
from tests.conftest import POLICIES
from tests.e2e.harness import in_memory_dev_server
from tests.principal import DATA_CONVERTER, process_env
from tests.reports.published import SCHEDULED, WEEK_END, WEEK_START, ZONE, expected_on_time, fill
from worker import workflow_runner
from workflows.report_workflow import PUBLISH_WORKFLOW, PublishReports, PublishRequest


@pytest.fixture(scope="module")
def address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with in_memory_dev_server(tmp_path_factory.mktemp("server")) as server:
        yield server


@asynccontextmanager
async def publishing(address: str, folder: Path) -> AsyncIterator[tuple[Client, str, Outbox]]:
    """A client, and a worker on a fresh task queue publishing the test ledger to `folder`/published
    (or, when a run names it, `folder`/site)."""
    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    queue = f"publish-{uuid.uuid4().hex[:8]}"
    outbox = Outbox(folder / "outbox.sqlite3")
    acts = ReportActivities(
        POLICIES,
        fill(folder),
        OutboxSink(outbox),
        timezone=ZONE,
        folder=folder / "published",
        allowed=[folder / "site"],
    )
    async with Worker(
        client,
        task_queue=queue,
        workflows=[PublishReports],
        activities=acts.activities(),
        activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=2),
        workflow_runner=workflow_runner(),
    ):
        yield client, queue, outbox


async def _publish(client: Client, queue: str, as_of: dt.datetime) -> Published:
    published: Published = await client.execute_workflow(
        PUBLISH_WORKFLOW,
        PublishRequest(period="weekly", as_of=as_of),
        id=f"report-weekly-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
        result_type=Published,
    )
    return published


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


async def test_repeated_and_late_runs_publish_the_same_week_once(address: str, tmp_path: Path) -> None:
    async with publishing(address, tmp_path) as (client, queue, outbox):
        first = await _publish(client, queue, SCHEDULED)
        written = _files(tmp_path / "published")
        again = await _publish(client, queue, SCHEDULED)  # the same scheduled time, run again
        late = await _publish(client, queue, SCHEDULED + dt.timedelta(days=3))  # three days late
    assert [(r.start, r.end) for r in (first, again, late)] == [(WEEK_START, WEEK_END)] * 3
    assert [r.first_time for r in (first, again, late)] == [True, False, False]
    assert list(written) == [f"weekly-{WEEK_START}.html", f"weekly-{WEEK_START}.json"]
    assert _files(tmp_path / "published") == written  # the same bytes
    (effect,) = outbox.list(type=EFFECT_TYPE)
    assert effect["key"] == f"reports/weekly/{WEEK_START}"
    on_time = {c["clock"]: c["figure"]["value"] for c in effect["params"]["on_time"]}
    assert on_time == pytest.approx(expected_on_time())
    document = json.loads(written[f"weekly-{WEEK_START}.json"])
    assert (document["start"], document["end"]) == (str(WEEK_START), str(WEEK_END))
    assert document["headline"]["on_time"] == effect["params"]["on_time"]


async def _run_of_schedule(client: Client, sid: str) -> Published:
    """The result of the schedule's run (started by a backfill): found in its recent actions."""
    handle = client.get_schedule_handle(sid)
    for _ in range(600):  # the server starts it within moments; the bound only stops a broken test
        actions = (await handle.describe()).info.recent_actions
        if actions:
            run = client.get_workflow_handle(actions[0].action.workflow_id, result_type=Published)
            return await run.result()
        await asyncio.sleep(0.1)
    raise AssertionError(f"{sid} started no run")


async def test_a_scheduled_run_publishes_the_week_before_its_scheduled_time(address: str, tmp_path: Path) -> None:
    async with publishing(address, tmp_path) as (client, queue, outbox):
        assert await ensure_schedule(client, "weekly", queue, ZONE, None) in ("created", "updated")
        sid = schedule_id("weekly")
        # The run the schedule would have started on Monday 22 June 01:00 (the window comes from that time,
        # not from today, when the backfill runs it).
        moment = SCHEDULED.astimezone(dt.UTC)
        await client.get_schedule_handle(sid).backfill(
            ScheduleBackfill(
                start_at=moment - dt.timedelta(seconds=1),
                end_at=moment + dt.timedelta(seconds=1),
                overlap=ScheduleOverlapPolicy.ALLOW_ALL,
            )
        )
        published = await _run_of_schedule(client, sid)
        await client.get_schedule_handle(sid).delete()
    assert (published.start, published.end, published.first_time) == (WEEK_START, WEEK_END, True)
    assert outbox.count(EFFECT_TYPE) == 1


def _env(address: str, folder: Path, queue: str = "publish-cli") -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": address,
        "AFTERSALES_TASK_QUEUE": queue,
        "AFTERSALES_TIMEZONE": ZONE,
        **process_env(folder),
    }


async def test_the_schedule_command_creates_then_updates_both_schedules(address: str, tmp_path: Path) -> None:
    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    created = await asyncio.to_thread(aftersales, "report", "schedule", "--monthly", env=_env(address, tmp_path))
    both = await asyncio.to_thread(
        aftersales, "report", "schedule", "--folder", str(tmp_path / "site"), env=_env(address, tmp_path, "q2")
    )
    assert created.returncode == 0, created.stderr
    assert "schedule aftersales-report-monthly created" in created.stdout
    assert "temporal schedule delete --schedule-id aftersales-report-monthly" in created.stdout
    assert both.returncode == 0, both.stderr
    assert "aftersales-report-monthly updated" in both.stdout
    assert str(tmp_path / "site") in both.stdout
    weekly = (await client.get_schedule_handle(schedule_id("weekly")).describe()).schedule
    monthly = (await client.get_schedule_handle(schedule_id("monthly")).describe()).schedule
    for schedule in (weekly, monthly):
        assert schedule.spec.time_zone_name == ZONE
        assert schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert schedule.action.task_queue == "q2"  # type: ignore[attr-defined]  # the update's queue
        (calendar,) = schedule.spec.calendars
        assert (calendar.hour, calendar.minute) == ((ScheduleRange(1),), (ScheduleRange(0),))
    (weekly_at,) = weekly.spec.calendars
    (monthly_at,) = monthly.spec.calendars
    assert weekly_at.day_of_week == (ScheduleRange(1),)  # Monday
    assert monthly_at.day_of_month == (ScheduleRange(1),)


async def test_a_period_is_published_by_hand(address: str, tmp_path: Path) -> None:
    site = tmp_path / "site"
    async with publishing(address, tmp_path) as (_client, queue, outbox):
        args = ("report", "publish", "--period", "weekly", "--for", "2026-06-17", "--folder", str(site))
        done = await asyncio.to_thread(aftersales, *args, env=_env(address, tmp_path, queue))
        again = await asyncio.to_thread(aftersales, *args, env=_env(address, tmp_path, queue))
    assert done.returncode == 0, done.stderr
    assert "no worker" not in done.stderr
    assert f"weekly-{WEEK_START}.html, weekly-{WEEK_START}.json in {site}" in done.stdout
    assert "published before" not in done.stdout
    assert again.returncode == 0 and "published before" in again.stdout
    assert sorted(p.name for p in site.iterdir()) == [f"weekly-{WEEK_START}.html", f"weekly-{WEEK_START}.json"]
    assert outbox.count(EFFECT_TYPE) == 1


async def test_a_folder_the_worker_does_not_allow_is_refused_with_the_reason(address: str, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    async with publishing(address, tmp_path) as (_client, queue, outbox):
        args = ("report", "publish", "--period", "weekly", "--for", "2026-06-17", "--folder", str(elsewhere))
        done = await asyncio.to_thread(aftersales, *args, env=_env(address, tmp_path, queue))
    assert done.returncode == 1, done.stderr
    assert (
        f"the publication was refused: folder {elsewhere} is not inside the worker's publication folders" in done.stderr
    )
    assert not elsewhere.exists() and outbox.count(EFFECT_TYPE) == 0


async def test_publish_without_a_worker_says_so_and_leaves_the_run_queued(address: str, tmp_path: Path) -> None:
    queue = f"nobody-{uuid.uuid4().hex[:8]}"
    args = ["report", "publish", "--period", "weekly", "--for", "2026-06-17", "--folder", str(tmp_path / "site")]
    env = {**os.environ, **_env(address, tmp_path, queue), "COLUMNS": "200"}
    command = subprocess.Popen(
        [sys.executable, "-m", "aftersales_cli.main", *args], stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        assert command.stderr is not None
        said = [await asyncio.to_thread(command.stderr.readline) for _ in range(2)]
    finally:
        command.kill()
        command.wait()
    assert said[1].startswith(f"aftersales: no worker has polled task queue {queue} lately"), said
    assert "Ctrl-C stops this command, not the run" in said[1]
    client = await Client.connect(address, data_converter=DATA_CONVERTER)
    run = await client.get_workflow_handle(f"{run_id_prefix('weekly')}-for-{WEEK_START}").describe()
    assert run.status == WorkflowExecutionStatus.RUNNING and run.task_queue == queue
    # The period is taken while its run waits: another publish is refused, naming the run to look at.
    second = await asyncio.to_thread(aftersales, *args, env=_env(address, tmp_path, "publish-cli"))
    await client.get_workflow_handle(run.id).terminate("test over")
    assert second.returncode == 2
    assert f"being published right now (workflow {run.id}); wait for that run" in second.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--period", "daily", "--for", "2026-06-17"), "--period: use one of weekly, monthly"),
        (("--period", "weekly", "--for", "17/06/2026"), "--for: not a date; write YYYY-MM-DD"),
        (("--period", "monthly", "--for", "2999-01-01"), "--for: that month is not over yet (it ends 2999-02-01)"),
    ],
)
def test_publish_refuses_a_bad_period_or_day_naming_the_option(args: tuple[str, ...], said: str) -> None:
    done = aftersales("report", "publish", *args, env={"TEMPORAL_ADDRESS": "127.0.0.1:1"})
    assert (done.returncode, done.stdout) == (2, "")
    assert said in done.stderr
