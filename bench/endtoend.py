"""Engine overhead end to end: return cases from request to refund on the embedded dev server, driven
by one worker, against the hand-written workflow of bench/handwritten.py (the baseline).

Each case: open, merchant_approve, return_shipped, return_delivered, confirm_receipt, then the
refund runs and the case closes. Both run on the same server, in the same process, with the same
concurrency; the SQLite-persisted server (as `make run` starts it) and the in-memory one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.config import Settings
from activities.outbox import Outbox
from activities.policy_source import PolicySource
from aftersales_cli.devserver import free_port, start_dev_server, wait_until_ready
from bench.cases import RETURN_EVENTS, return_case_data
from bench.common import ROOT, Result, console
from bench.handwritten import TASK_QUEUE as HW_QUEUE
from bench.handwritten import HandwrittenActivities, HandwrittenReturn
from starter import CaseClient
from worker import build_worker
from workflows.contract import workflow_id_for

OURS_QUEUE = "bench-aftersales"


async def _ours(client: Client, case_id: str, n: int, now: dt.datetime) -> None:
    cases = CaseClient(client, OURS_QUEUE)
    await cases.open("return", case_id, return_case_data(n, now))
    for i, (name, role, data) in enumerate(RETURN_EVENTS):
        await cases.event(case_id, name, role, "actor", data, key=f"{case_id}/{i}")
    await client.get_workflow_handle(workflow_id_for(case_id)).result()


async def _handwritten(client: Client, case_id: str, n: int, now: dt.datetime) -> None:
    handle = await client.start_workflow(
        HandwrittenReturn.run, {"case_id": case_id, **return_case_data(n, now)}, id=f"hw-{case_id}", task_queue=HW_QUEUE
    )
    for name, role, _ in RETURN_EVENTS:
        await handle.execute_update(HandwrittenReturn.submit_event, args=[name, role])
    await handle.result()


async def _drive(kind: str, client: Client, prefix: str, count: int, concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)
    now = dt.datetime.now(dt.UTC)
    one = _ours if kind == "ours" else _handwritten

    async def case(n: int) -> None:
        async with gate:
            await one(client, f"{prefix}-{n:05d}", n, now)

    start = time.perf_counter()
    await asyncio.gather(*(case(n) for n in range(count)))
    return time.perf_counter() - start


async def _cost(client: Client, workflow_id: str) -> tuple[int, int]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    tasks = sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    return tasks, len(history.events)


async def _measure(server_kind: str, folder: Path, count: int, concurrency: int, rounds: int) -> dict[str, Any]:
    address = f"127.0.0.1:{free_port()}"
    db = folder / f"{server_kind}.sqlite3" if server_kind == "sqlite" else None
    server = start_dev_server(address, db_file=db, log_file=folder / f"{server_kind}.log", headless=True)
    try:
        wait_until_ready(address, server)
        client = await Client.connect(address, data_converter=pydantic_data_converter)
        settings = Settings.from_env(
            {
                "TEMPORAL_ADDRESS": address,
                "AFTERSALES_TASK_QUEUE": OURS_QUEUE,
                "AFTERSALES_OUTBOX": str(folder / f"{server_kind}-ours.sqlite3"),
                "AFTERSALES_LOG_FORMAT": "json",
            }
        )
        ours_worker = build_worker(client, settings, PolicySource(ROOT / "policies"))
        hw_acts = HandwrittenActivities(Outbox(folder / f"{server_kind}-hw.sqlite3"))
        hw_worker = Worker(
            client,
            task_queue=HW_QUEUE,
            workflows=[HandwrittenReturn],
            activities=[hw_acts.lookup, hw_acts.effect],
            activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=8),
        )
        times: dict[str, list[float]] = {"ours": [], "handwritten": []}
        async with ours_worker, hw_worker:
            # Warm up both (imports, sandbox, connections), then alternate so drift hits both alike.
            await _drive("ours", client, f"{server_kind}-warm-ours", 5, 5)
            await _drive("handwritten", client, f"{server_kind}-warm-hw", 5, 5)
            for r in range(rounds):
                for kind in ("handwritten", "ours") if r % 2 == 0 else ("ours", "handwritten"):
                    times[kind].append(await _drive(kind, client, f"{server_kind}-{kind}-{r}", count, concurrency))
            ours_cost = await _cost(client, workflow_id_for(f"{server_kind}-ours-0-00000"))
            hw_cost = await _cost(client, f"hw-{server_kind}-handwritten-0-00000")
        return {"times": times, "ours_cost": ours_cost, "hw_cost": hw_cost}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except Exception:
            server.kill()


def run(quick: bool) -> Result:
    count = 100 if quick else 500
    rounds = 2 if quick else 3
    concurrency = 20
    result = Result(
        "endtoend",
        f"End to end: {count} return cases a round (request to refund), {concurrency} at a time, best of {rounds}",
        [
            "server",
            "workflow",
            "cases /s",
            "ratio (ours / hand-written)",
            "workflow tasks / case",
            "history events / case",
        ],
    )
    logging_off()
    with tempfile.TemporaryDirectory() as tmp:
        for server_kind in ("sqlite", "memory"):
            with console.status(f"end to end on the {server_kind} dev server"):
                m = asyncio.run(_measure(server_kind, Path(tmp), count, concurrency, rounds))
            ours = count / min(m["times"]["ours"])
            hw = count / min(m["times"]["handwritten"])
            label = "dev server, SQLite file" if server_kind == "sqlite" else "dev server, in memory"
            result.rows.append([label, "hand-written (baseline)", hw, 1.0, m["hw_cost"][0], m["hw_cost"][1]])
            result.rows.append([label, "AfterSalesCase", ours, ours / hw, m["ours_cost"][0], m["ours_cost"][1]])
            result.data[server_kind] = m
    return result


def logging_off() -> None:
    import logging

    import structlog

    logging.getLogger().setLevel(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
