"""Engine overhead end to end: return cases from request to refund on the embedded dev server, driven
by one worker, against the hand-written workflow of bench/handwritten.py (the baseline).

Each case: open, merchant_approve, return_shipped, return_delivered, confirm_receipt, then the
refund runs and the case closes. Both run on the same server, in the same process, with the same
concurrency; the SQLite-persisted server (as `make run` starts it) and the in-memory one.

The cost of the ledger: the same cases with the worker writing every case's facts to its ledger
(the default, a SQLite file) and with `AFTERSALES_LEDGER=off`, two workers of the same process on
two task queues, rounds interleaved.
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
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

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
NO_LEDGER_QUEUE = "bench-aftersales-no-ledger"
KINDS = ["handwritten", "ours", "ours-ends", "ours-no-ledger"]
LABELS = {
    "handwritten": "hand-written (baseline)",
    "ours": "AfterSalesCase",
    "ours-ends": "AfterSalesCase, LIST_BY_STATE=false",
    "ours-no-ledger": "AfterSalesCase, LEDGER=off",
}


async def _ours(
    client: Client,
    case_id: str,
    n: int,
    now: dt.datetime,
    *,
    list_by_state: bool = True,
    task_queue: str = OURS_QUEUE,
) -> None:
    cases = signed_client(client, task_queue, list_by_state=list_by_state)
    opening = return_case_data(n, now)
    await cases.open("return", case_id, opening)
    for i, (name, role, data) in enumerate(RETURN_EVENTS):
        await cases.event(case_id, name, role, sender_of(opening, role), data, key=f"{case_id}/{i}")
    await client.get_workflow_handle(workflow_id_for(case_id)).result()


async def _ours_listed_at_ends(client: Client, case_id: str, n: int, now: dt.datetime) -> None:
    await _ours(client, case_id, n, now, list_by_state=False)


async def _ours_without_ledger(client: Client, case_id: str, n: int, now: dt.datetime) -> None:
    await _ours(client, case_id, n, now, task_queue=NO_LEDGER_QUEUE)


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
    one = {
        "ours": _ours,
        "ours-ends": _ours_listed_at_ends,
        "ours-no-ledger": _ours_without_ledger,
        "handwritten": _handwritten,
    }[kind]

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
                # The ledger and the outbox in one SQLite file, as `make run` keeps them.
                "AFTERSALES_DATABASE_URL": f"sqlite:///{folder / f'{server_kind}-ledger.sqlite3'}",
                "AFTERSALES_LOG_FORMAT": "json",
            }
        )
        # A deployment without a ledger: no facts, the outbox in its own file.
        no_ledger = Settings.from_env(
            {
                "TEMPORAL_ADDRESS": address,
                "AFTERSALES_TASK_QUEUE": NO_LEDGER_QUEUE,
                "AFTERSALES_LEDGER": "off",
                "AFTERSALES_OUTBOX": str(folder / f"{server_kind}-no-ledger.sqlite3"),
                "AFTERSALES_LOG_FORMAT": "json",
            }
        )
        ours_worker = build_worker(client, settings, PolicySource(ROOT / "policies"), callers=GATE)
        no_ledger_worker = build_worker(client, no_ledger, PolicySource(ROOT / "policies"), callers=GATE)
        hw_acts = HandwrittenActivities(Outbox(folder / f"{server_kind}-hw.sqlite3"))
        hw_worker = Worker(
            client,
            task_queue=HW_QUEUE,
            workflows=[HandwrittenReturn],
            activities=[hw_acts.lookup, hw_acts.effect],
            activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=8),
            # Its module imports the outbox (and so the ledger's database code) for its activities:
            # passed through, as the worker passes its own modules, instead of re-imported per run.
            workflow_runner=SandboxedWorkflowRunner(
                restrictions=SandboxRestrictions.default.with_passthrough_modules("activities", "ledger", "service")
            ),
        )
        times: dict[str, list[float]] = {kind: [] for kind in KINDS}
        async with ours_worker, no_ledger_worker, hw_worker:
            # Warm up (imports, sandbox, connections), then rotate the order so drift hits all alike.
            for kind in KINDS:
                await _drive(kind, client, f"{server_kind}-warm-{kind}", 5, 5)
            for r in range(rounds):
                for kind in KINDS[r % len(KINDS) :] + KINDS[: r % len(KINDS)]:
                    times[kind].append(await _drive(kind, client, f"{server_kind}-{kind}-{r}", count, concurrency))
            costs = {
                "ours": await _cost(client, workflow_id_for(f"{server_kind}-ours-0-00000")),
                "ours-ends": await _cost(client, workflow_id_for(f"{server_kind}-ours-ends-0-00000")),
                "ours-no-ledger": await _cost(client, workflow_id_for(f"{server_kind}-ours-no-ledger-0-00000")),
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
            for kind in KINDS:
                tasks, events = m["costs"][kind]
                result.rows.append([label, LABELS[kind], rate[kind], rate[kind] / hw, tasks, events])
            # The ledger's cost: its own ratio, ledger on over ledger off, in the same run.
            m["ledger_ratio"] = rate["ours"] / rate["ours-no-ledger"]
            console.print(f"{label}: ledger on / off = {m['ledger_ratio']:.2f}")
            result.data[server_kind] = m
    result.notes.append(
        "AfterSalesCase keeps its search attributes current (CaseState at every transition: one visibility "
        "write each); with AFTERSALES_LIST_BY_STATE=false they are written when the case opens and closes. "
        "The hand-written workflow writes none."
    )
    result.notes.append(
        "AfterSalesCase writes every case's facts to its ledger (a SQLite file holding the outbox too); "
        "LEDGER=off writes none (AFTERSALES_LEDGER=off, the outbox in its own file). The ledger's cost is "
        "data['<server>']['ledger_ratio']: cases/s with the ledger over cases/s without, in the same run."
    )
    return result


def logging_off() -> None:
    import logging

    import structlog

    logging.getLogger().setLevel(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
