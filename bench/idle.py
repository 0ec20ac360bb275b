"""Idle cases: the worker's resident memory with many open cases waiting on timers, against the same
worker with none. The worker caches at most 1,000 workflows (max_cached_workflows); beyond that an
idle case lives only in Temporal's history, so memory should stop growing with open cases."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from aftersales_cli.devserver import free_port, start_dev_server, wait_until_ready
from bench.cases import return_case_data
from bench.common import ROOT, Result, console
from tests.principal import sign_open, write_grants
from workflows.contract import WORKFLOW_TYPE, CaseStart, OpenRequest, workflow_id_for

TASK_QUEUE = "bench-idle"


def _rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 1024 / 1024


async def _open(client: Client, start: int, stop: int, now: dt.datetime) -> None:
    gate = asyncio.Semaphore(50)

    async def one(n: int) -> None:
        case_id = f"IDLE-{n:06d}"
        async with gate:
            await client.start_workflow(
                WORKFLOW_TYPE,
                CaseStart(
                    open=sign_open(OpenRequest(case_id=case_id, case_type="return", data=return_case_data(n, now)))
                ),
                id=workflow_id_for(case_id),
                task_queue=TASK_QUEUE,
            )

    await asyncio.gather(*(one(n) for n in range(start, stop)))


async def _settled(client: Client, expected: int, timeout: float = 900) -> None:
    """Every case opened and waiting (its first decision taken, its timer started)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = (await client.count_workflows("CaseState = 'awaiting_merchant'")).count
        if waiting >= expected:
            return
        await asyncio.sleep(1)
    raise TimeoutError(f"only some of {expected} cases opened in time")


async def _measure(folder: Path, steps: list[int]) -> list[tuple[int, float]]:
    address = f"127.0.0.1:{free_port()}"
    server = start_dev_server(address, db_file=None, log_file=folder / "server.log", headless=True)
    worker: subprocess.Popen[bytes] | None = None
    try:
        wait_until_ready(address, server)
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": address,
            "AFTERSALES_TASK_QUEUE": TASK_QUEUE,
            "AFTERSALES_POLICY_DIR": str(ROOT / "policies"),
            "AFTERSALES_OUTBOX": str(folder / "outbox.sqlite3"),
            "AFTERSALES_LOG_FORMAT": "json",
            "AFTERSALES_GRANTS": str(write_grants(folder / "grants.yaml")),
        }
        log = (folder / "worker.log").open("wb")
        worker = subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env=env, stdout=log, stderr=log)
        client = await Client.connect(address, data_converter=pydantic_data_converter)
        now = dt.datetime.now(dt.UTC)
        # The baseline: the same worker, started, connected and polling, with no case at all.
        await asyncio.sleep(5)
        points = [(0, _rss_mb(worker.pid))]
        opened = 0
        for step in steps:
            with console.status(f"opening cases {opened:,}..{step:,}"):
                await _open(client, opened, step, now)
                await _settled(client, step)
            opened = step
            await asyncio.sleep(3)
            points.append((step, _rss_mb(worker.pid)))
        return points
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=30)
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def run(quick: bool) -> Result:
    total = 2000 if quick else 10_000
    steps = [total // 8, total // 4, total // 2, total]
    with tempfile.TemporaryDirectory() as tmp:
        points = asyncio.run(_measure(Path(tmp), steps))
    base = points[0][1]
    result = Result(
        "idle",
        f"Idle cases: worker resident memory, up to {total:,} open return cases waiting on their 48 h timer",
        ["open cases", "worker RSS MB", "ratio to no cases", "KB per case over no cases"],
    )
    for count, rss in points:
        per_case = (rss - base) * 1024 / count if count else 0.0
        result.rows.append([count, rss, rss / base, per_case])
    last_two = points[-2:]
    growth = (last_two[1][1] - last_two[0][1]) * 1024 / max(1, last_two[1][0] - last_two[0][0])
    result.notes.append(
        f"Growth over the last step: {growth:.1f} KB per additional case (worker cache: 1,000 workflows)."
    )
    result.data = {"points": points, "growth_kb_per_case_last_step": growth}
    return result
