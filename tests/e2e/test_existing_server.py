"""The worker on a Temporal server that nobody prepared: a plain `temporal server start-dev`.

Such a server knows none of the cases' search attributes; before the worker checked them, every case
failed its first workflow task (BadSearchAttributes) and never opened. Here the worker registers
them at start and a case opens and answers; a namespace holding one of them with another type makes
the worker refuse to start, saying what to run. The worker runs as users run it (`aftersales
worker`, JSON logs), so its log lines are checked too.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client

from aftersales_cli.devserver import free_port, stop, temporal_binary, wait_until_ready
from bench.cases import return_case_data
from tests.conftest import POLICIES, ROOT
from tests.principal import DATA_CONVERTER, process_env, signed_client
from workflows.search_attributes import expected_types

AFTERSALES = str(Path(sys.executable).parent / "aftersales")
WRONG_TYPE_NAMESPACE = "wrong-type"


@dataclass
class PlainServer:
    address: str
    folder: Path


@pytest.fixture(scope="module")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlainServer]:
    """`temporal server start-dev` with no search attribute flags, in memory, in a folder of its own."""
    folder = tmp_path_factory.mktemp("plain-server")
    address = f"127.0.0.1:{free_port()}"
    log_file = folder / "server.log"
    with log_file.open("wb") as log:
        args = [temporal_binary(), "server", "start-dev", "--headless", "--log-level", "warn"]
        args += ["--ip", "127.0.0.1", "--port", address.rpartition(":")[2], "--namespace", WRONG_TYPE_NAMESPACE]
        proc = subprocess.Popen(args, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(address, proc, log_file=log_file)
        yield PlainServer(address, folder)
    finally:
        stop(proc)


@pytest_asyncio.fixture(loop_scope="session")
async def client(plain_server: PlainServer) -> AsyncIterator[Client]:
    yield await Client.connect(plain_server.address, data_converter=DATA_CONVERTER)


class WorkerProcess:
    """`aftersales worker` (or `dev`) in a subprocess; its output lines are collected as they come."""

    def __init__(self, server: PlainServer, *command: str, **env: str) -> None:
        self.task_queue = f"plain-{uuid.uuid4().hex[:8]}"
        full_env = {
            **os.environ,
            "TEMPORAL_ADDRESS": server.address,
            "AFTERSALES_TASK_QUEUE": self.task_queue,
            "AFTERSALES_POLICY_DIR": str(POLICIES),
            "AFTERSALES_OUTBOX": str(server.folder / f"{self.task_queue}.sqlite3"),
            "AFTERSALES_LOG_FORMAT": "json",
            **process_env(server.folder),
            **env,
        }
        self.proc = subprocess.Popen(
            [AFTERSALES, *(command or ["worker"])],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # logs are on stderr; stdout too, in case it says something
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while not any(text in line for line in self.seen):
            try:
                self.seen.append(self.lines.get(timeout=0.2))
            except queue.Empty:
                if not self.reader.is_alive():  # its output closed: the process ended
                    raise AssertionError(f"exited ({self.proc.wait()}) before {text!r}: {self.seen}") from None
                assert time.monotonic() < deadline, f"{text!r} not logged within {within:.0f} s: {self.seen}"

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=20)
        self.reader.join(timeout=5)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.seen]  # AFTERSALES_LOG_FORMAT=json: every line is JSON


async def test_the_worker_registers_the_attributes_and_a_case_opens(plain_server: PlainServer, client: Client) -> None:
    worker = WorkerProcess(plain_server)
    try:
        worker.wait_for("worker started")
        cases = signed_client(client, worker.task_queue)
        case_id = f"R-{uuid.uuid4().hex[:8]}"
        opened = await cases.open("return", case_id, return_case_data(1, dt.datetime.now(dt.UTC)))
        assert opened.state == "awaiting_merchant"
        status = await cases.status(case_id)
        assert status.state == "awaiting_merchant" and status.case_id == case_id
        worker.wait_for("case opened")
    finally:
        code = worker.stop()
    assert code == 0, worker.seen
    events = worker.events()
    (registered,) = [e for e in events if e["event"] == "search attributes registered"]
    assert sorted(registered["names"]) == sorted(expected_types())
    # The workflow logger's context is fields, not a dict repr appended to the message.
    (case_opened,) = [e for e in events if e["event"] == "case opened"]
    assert case_opened["case_id"] == case_id and case_opened["workflow_id"] == f"case-{case_id}"
    assert not any("BadSearchAttributes" in line for line in worker.seen)


async def test_an_attribute_of_another_type_stops_the_worker(plain_server: PlainServer, client: Client) -> None:
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=WRONG_TYPE_NAMESPACE,
            search_attributes={"CaseState": IndexedValueType.INDEXED_VALUE_TYPE_TEXT},
        )
    )
    worker = WorkerProcess(plain_server, TEMPORAL_NAMESPACE=WRONG_TYPE_NAMESPACE, AFTERSALES_LOG_FORMAT="console")
    worker.proc.wait(timeout=30)  # it stops by itself
    code = worker.stop()
    text = "\n".join(worker.seen)
    assert code == 1, text
    assert "refusing to start" in text and "CaseState is registered as Text; cases write it as Keyword" in text
    remove = f"temporal operator search-attribute remove --address {plain_server.address} --namespace wrong-type"
    assert f"{remove} --name CaseState --yes" in text
    assert "Traceback" not in text


async def test_make_run_uses_the_server_that_answers(plain_server: PlainServer) -> None:
    """`aftersales dev` (what `make run` runs) on an address where a Temporal server answers."""
    dev = WorkerProcess(plain_server, "dev", AFTERSALES_LOG_FORMAT="console")
    try:
        dev.wait_for("worker started")
    finally:
        code = dev.stop(signal.SIGINT)  # Ctrl-C
    text = "\n".join(dev.seen)
    assert code == 0, text
    assert f"the one already answering at {plain_server.address}" in text
    # What the second terminal needs: the address is not the default one.
    assert f"export TEMPORAL_ADDRESS={plain_server.address}" in text
    assert "worker stopped" in text
