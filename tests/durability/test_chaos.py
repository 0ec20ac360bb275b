"""Cases survive a worker killed with SIGKILL at random moments and a dev server restarted mid-run.

200 return cases run from request to refund on the embedded dev server (persisting to SQLite) while
a chaos loop kills the worker process and starts a new one, and restarts the server once. Backend
calls are retried with the same idempotency keys, as a real backend would. At the end every case
is refunded and closed, and the outbox holds exactly one refund row per case.

AFTERSALES_CHAOS_CASES and AFTERSALES_CHAOS_SEED change the size and the moments of the kills.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from activities.outbox import Outbox
from aftersales_cli.devserver import free_port, start_dev_server, stop, wait_until_ready
from bench.cases import RETURN_EVENTS, return_case_data
from starter import CaseClient, CaseError, EventRefused
from workflows.contract import CaseStatus, workflow_id_for

ROOT = Path(__file__).resolve().parents[2]
CASES = int(os.environ.get("AFTERSALES_CHAOS_CASES", "200"))
SEED = int(os.environ.get("AFTERSALES_CHAOS_SEED", "20261125"))
TASK_QUEUE = "aftersales-chaos"
MAX_KILLS = 12  # then the worker is left alone to finish: the test must end in a few minutes
T = TypeVar("T")


@dataclass
class Cluster:
    """The dev server and worker processes the chaos loop kills and restarts."""

    folder: Path
    address: str = field(default_factory=lambda: f"127.0.0.1:{free_port()}")
    server: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    worker_starts: int = 0

    @property
    def outbox_path(self) -> Path:
        return self.folder / "outbox.sqlite3"

    def start_server(self) -> None:
        self.server = start_dev_server(
            self.address,
            db_file=self.folder / "dev.sqlite3",
            log_file=self.folder / "server.log",
            headless=True,
        )
        wait_until_ready(self.address, self.server)

    def stop_server(self) -> None:
        """SIGTERM; a server still busy after 15 s is killed (its SQLite file keeps what was committed)."""
        if self.server is not None:
            stop(self.server, timeout=15)
            self.server = None

    def start_worker(self) -> None:
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": self.address,
            "AFTERSALES_TASK_QUEUE": TASK_QUEUE,
            "AFTERSALES_POLICY_DIR": str(ROOT / "policies"),
            "AFTERSALES_OUTBOX": str(self.outbox_path),
            "AFTERSALES_LOG_FORMAT": "json",
        }
        log = (self.folder / f"worker-{self.worker_starts}.log").open("wb")
        self.worker = subprocess.Popen([sys.executable, str(ROOT / "worker.py")], env=env, stdout=log, stderr=log)
        self.worker_starts += 1

    def kill_worker(self) -> None:
        if self.worker is not None:
            self.worker.send_signal(signal.SIGKILL)
            self.worker.wait()
            self.worker = None

    def stop_all(self) -> None:
        if self.worker is not None:
            self.worker.kill()
            self.worker.wait()
        self.stop_server()


@pytest_asyncio.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    c = Cluster(tmp_path)
    c.start_server()
    c.start_worker()
    try:
        yield c
    finally:
        c.stop_all()


async def _persist(call: Callable[[], Awaitable[T]], what: str, attempts: int = 200) -> T:
    """Retry a backend call through worker kills and server restarts, as a backend would."""
    delay = 0.2
    for _ in range(attempts):
        try:
            return await asyncio.wait_for(call(), timeout=20)
        except (RPCError, CaseError, TimeoutError) as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError from None
            if isinstance(exc, EventRefused) and "still opening" not in str(exc):
                raise  # a real refusal, or the case has closed: retrying will not change the answer
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 2.0)
    raise AssertionError(f"{what}: gave up after {attempts} attempts")


async def _drive(client: Client, n: int, now: dt.datetime, gate: asyncio.Semaphore, driven: list[str]) -> None:
    cases = CaseClient(client, TASK_QUEUE)
    case_id = f"CHAOS-{n:04d}"
    async with gate:
        await _persist(partial(cases.open, "return", case_id, return_case_data(n, now)), f"open {case_id}")
        for i, (name, role, data) in enumerate(RETURN_EVENTS):
            actor = {"merchant": "M-1", "customer": f"C-{n}", "system": "carrier"}[role]
            send = partial(cases.event, case_id, name, role, actor, data, key=f"{case_id}/{i}")
            try:
                await _persist(send, f"{name} {case_id}")
            except EventRefused as exc:
                # Only the last event may find the case closed: its answer was lost in a kill.
                assert "closed" in str(exc) and i == len(RETURN_EVENTS) - 1, f"{case_id} {name}: {exc}"
    driven.append(case_id)


async def _chaos(cluster: Cluster, done: asyncio.Event, rng: random.Random, kills: list[str]) -> None:
    restarted_server = False
    while not done.is_set() and len(kills) < MAX_KILLS:
        await asyncio.sleep(rng.uniform(1.0, 4.0))
        if done.is_set():
            break
        cluster.kill_worker()
        kills.append("worker")
        print(f"chaos: worker killed ({len(kills)} kills so far)", flush=True)
        if not restarted_server and len(kills) >= 3:
            # The server goes down while the worker is dead and cases are mid-flight.
            await asyncio.to_thread(cluster.stop_server)
            await asyncio.to_thread(cluster.start_server)
            kills.append("server")
            restarted_server = True
        await asyncio.sleep(rng.uniform(0.0, 1.0))
        cluster.start_worker()


async def test_cases_survive_worker_kills_and_a_server_restart(cluster: Cluster) -> None:
    rng = random.Random(SEED)
    client = await Client.connect(cluster.address, data_converter=pydantic_data_converter)
    now = dt.datetime.now(dt.UTC)
    done = asyncio.Event()
    kills: list[str] = []
    chaos = asyncio.create_task(_chaos(cluster, done, rng, kills))
    gate = asyncio.Semaphore(50)
    driven: list[str] = []
    driving = asyncio.ensure_future(asyncio.gather(*(_drive(client, n, now, gate, driven) for n in range(CASES))))
    try:
        # A failure in the chaos loop (a server that will not restart) ends the test at once.
        finished, _ = await asyncio.wait({driving, chaos}, timeout=420, return_when=asyncio.FIRST_EXCEPTION)
        if chaos in finished:
            chaos.result()  # raises what went wrong with the processes
        assert driving in finished, "the cases were not driven to the end within 7 minutes"
        driving.result()
    finally:
        done.set()
        driving.cancel()
        await asyncio.gather(chaos, driving, return_exceptions=True)
    if cluster.worker is None:
        cluster.start_worker()
    assert "server" in kills and kills.count("worker") >= 3, kills

    # Every case finishes: refunded, closed, its workflow completed.
    unfinished: dict[str, str] = {}
    for n in range(CASES):
        handle = client.get_workflow_handle(workflow_id_for(f"CHAOS-{n:04d}"), result_type=CaseStatus)
        result = await asyncio.wait_for(handle.result(), timeout=120)
        if not (result.closed and result.state == "refunded"):
            unfinished[f"CHAOS-{n:04d}"] = result.state
    assert not unfinished, unfinished

    # Exactly one refund row per case, whatever the kills interrupted.
    outbox = Outbox(cluster.outbox_path)
    refunds: dict[str, int] = {}
    for row in outbox.list(type="refund", limit=10 * CASES):
        refunds[row["case_id"]] = refunds.get(row["case_id"], 0) + 1
    assert refunds == {f"CHAOS-{n:04d}": 1 for n in range(CASES)}
    print(f"chaos: {CASES} cases, {kills.count('worker')} worker kills, 1 server restart, seed {SEED}")
