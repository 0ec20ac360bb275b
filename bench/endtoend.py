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

from activities.outbox import Outbox
from activities.policy_source import PolicySource
from aftersales_cli.devserver import free_port, start_dev_server, wait_until_ready
from bench.cases import RETURN_EVENTS, return_case_data, sender_of
from bench.common import ROOT, Result, console
from bench.handwritten import TASK_QUEUE as HW_QUEUE
from bench.handwritten import HandwrittenActivities, HandwrittenReturn
from service import Settings
from tests.principal import GATE, signed_client
from worker import build_worker
from workflows.contract import workflow_id_for

OURS_QUEUE = "bench-aftersales"
KINDS = ["handwritten", "ours", "ours-ends"]
LABELS = {
    "handwritten": "hand-written (baseline)",
    "ours": "AfterSalesCase",
    "ours-ends": "AfterSalesCase, LIST_BY_STATE=false",
}


async def _ours(client: Client, case_id: str, n: int, now: dt.datetime, *, list_by_state: bool = True) -> None:
    cases = signed_client(client, OURS_QUEUE, list_by_state=list_by_state)
    opening = return_case_data(n, now)
    await cases.open("return", case_id, opening)
    for i, (name, role, data) in enumerate(RETURN_EVENTS):
        await cases.event(case_id, name, role, sender_of(opening, role), data, key=f"{case_id}/{i}")
    await client.get_workflow_handle(workflow_id_for(case_id)).result()


async def _ours_listed_at_ends(client: Client, case_id: str, n: int, now: dt.datetime) -> None:
    await _ours(client, case_id, n, now, list_by_state=False)


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
    one = {"ours": _ours, "ours-ends": _ours_listed_at_ends, "handwritten": _handwritten}[kind]

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
        ours_worker = build_worker(client, settings, PolicySource(ROOT / "policies"), callers=GATE)
        hw_acts = HandwrittenActivities(Outbox(folder / f"{server_kind}-hw.sqlite3"))
        hw_worker = Worker(
            client,
            task_queue=HW_QUEUE,
            workflows=[HandwrittenReturn],
            activities=[hw_acts.lookup, hw_acts.effect],
            activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=8),
        )
        times: dict[str, list[float]] = {kind: [] for kind in KINDS}
        async with ours_worker, hw_worker:
            # Warm up (imports, sandbox, connections), then rotate the order so drift hits all alike.
            for kind in KINDS:
                await _drive(kind, client, f"{server_kind}-warm-{kind}", 5, 5)
            for r in range(rounds):
                for kind in KINDS[r % len(KINDS) :] + KINDS[: r % len(KINDS)]:
                    times[kind].append(await _drive(kind, client, f"{server_kind}-{kind}-{r}", count, concurrency))
            costs = {
                "ours": await _cost(client, workflow_id_for(f"{server_kind}-ours-0-00000")),
                "ours-ends": await _cost(client, workflow_id_for(f"{server_kind}-ours-ends-0-00000")),
                "handwritten": await _cost(client, f"hw-{server_kind}-handwritten-0-00000"),
            }
        return {"times": times, "costs": costs}
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
            rate = {kind: count / min(m["times"][kind]) for kind in KINDS}
            hw = rate["handwritten"]
            label = "dev server, SQLite file" if server_kind == "sqlite" else "dev server, in memory"
            for kind in ("handwritten", "ours", "ours-ends"):
                tasks, events = m["costs"][kind]
                result.rows.append([label, LABELS[kind], rate[kind], rate[kind] / hw, tasks, events])
            result.data[server_kind] = m
    result.notes.append(
        "AfterSalesCase keeps its search attributes current (CaseState at every transition: one visibility "
        "write each); with AFTERSALES_LIST_BY_STATE=false they are written when the case opens and closes. "
        "The hand-written workflow writes none."
    )
    return result


def logging_off() -> None:
    import logging

    import structlog

    logging.getLogger().setLevel(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
