"""Client programs end with their own exit code, every time, on a real dev server.

The Temporal SDK answers from threads of its own runtime; a program that exited while one was
still finishing an answer aborted (exit 134, or 139) after printing the right result, about one
run in ten. Each client command and the backend example run many times here, and only the codes
the command means (0, or 1 for a refusal) are accepted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from aftersales_cli.devserver import free_port, start_dev_server, stop, wait_until_ready
from tests.cli import ROOT
from tests.principal import process_env

RUNS = int(os.environ.get("AFTERSALES_EXIT_RUNS", "8"))  # runs of each command
TASK_QUEUE = "aftersales-exit"


@dataclass
class Stack:
    env: dict[str, str]

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args, capture_output=True, text=True, env=self.env, cwd=ROOT, input=stdin, timeout=60, check=False
        )

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "aftersales_cli.main", *args, stdin=stdin)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("exit")
    address = f"127.0.0.1:{free_port()}"
    server = start_dev_server(address, db_file=None, log_file=folder / "server.log", headless=True)
    worker: subprocess.Popen[bytes] | None = None
    try:
        wait_until_ready(address, server)
        env = {
            **os.environ,
            "TEMPORAL_ADDRESS": address,
            "AFTERSALES_TASK_QUEUE": TASK_QUEUE,
            "AFTERSALES_HOME": str(ROOT),
            "AFTERSALES_OUTBOX": str(folder / "outbox.sqlite3"),
            "AFTERSALES_LOG_FORMAT": "json",
            "COLUMNS": "120",
            **process_env(folder),
        }
        with (folder / "worker.log").open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "aftersales_cli.main", "worker"], env=env, stdout=log, stderr=log, cwd=ROOT
            )
        yield Stack(env)
    finally:
        if worker is not None:
            stop(worker, timeout=30)
        stop(server, timeout=30)


CASE = """
case_type: return
case_id: {case_id}
data:
  channel: app
  customer: {{id: C-1, tier: regular, locale: en}}
  order: {{id: O-1, merchant_id: M-1, paid_at: -5d, delivered_at: -2d, amount: 299.00, currency: CNY}}
  item: {{sku: SKU-1, category: apparel, price: 299.00, quantity: 1}}
  reason: no_reason
"""


def _codes(results: list[subprocess.CompletedProcess[str]]) -> list[int]:
    return [r.returncode for r in results]


def test_client_commands_exit_with_their_own_code(stack: Stack) -> None:
    opened = stack.cli("case", "open", "-", stdin=CASE.format(case_id="X-1"))
    assert opened.returncode == 0, opened.stdout + opened.stderr
    assert "opened case X-1" in opened.stdout

    commands: list[tuple[tuple[str, ...], int]] = [
        (("case", "status", "X-1", "--json"), 0),
        (("case", "status", "X-1"), 0),
        (("case", "timeline", "X-1"), 0),
        (("case", "event", "X-1", "return_delivered", "--role", "system"), 1),  # refused: wrong state
        (("case", "status", "NOPE"), 1),
        (("case", "list"), 0),
    ]
    for args, expected in commands:
        results = [stack.cli(*args) for _ in range(RUNS)]
        assert _codes(results) == [expected] * RUNS, (args, _codes(results), results[-1].stderr[-2000:])
        for r in results:
            assert "Fatal Python error" not in r.stderr and "Traceback" not in r.stderr + r.stdout
    refused = stack.cli("case", "event", "X-1", "return_delivered", "--role", "system")
    assert "is not accepted in state 'awaiting_merchant'" in refused.stderr
    missing = stack.cli("case", "status", "NOPE")
    assert missing.stderr.strip() == "no case NOPE"


def test_reopening_says_the_case_existed_and_refused_openings_are_explained(stack: Stack) -> None:
    # Absolute times: the same file opens the same case again.
    case = CASE.format(case_id="X-2").replace("-5d", "2026-11-20T09:00:00+08:00").replace("-2d", "now")
    first = stack.cli("case", "open", "-", stdin=case.replace("delivered_at: now", "delivered_at: -1d"))
    assert first.returncode == 0, first.stderr
    again = stack.cli("case", "open", "-", stdin=case.replace("delivered_at: now", "delivered_at: -1d"))
    assert again.returncode == 1 and "relative to now" in again.stderr  # -1d: other data on each run
    fixed = CASE.format(case_id="X-3").replace("-5d", "2026-11-20T09:00:00+08:00")
    fixed = fixed.replace("-2d", "2026-11-22T15:00:00+08:00")
    assert stack.cli("case", "open", "-", stdin=fixed).returncode == 0
    repeat = stack.cli("case", "open", "-", stdin=fixed)
    assert repeat.returncode == 0 and "already existed" in repeat.stdout, repeat.stdout + repeat.stderr

    bad = stack.cli("case", "open", "-", stdin="case_type: return\ncase_id: X-BAD\ndata: {channel: app}\n")
    assert bad.returncode == 1 and bad.stderr.strip(), bad.stdout
    status = stack.cli("case", "status", "X-BAD")
    assert status.returncode == 1 and "was refused when it opened" in status.stderr, status.stderr
    listed = stack.cli("case", "list")
    assert "X-BAD" not in listed.stdout and listed.stdout.count("X-3") == 1
    with_refused = stack.cli("case", "list", "--refused")
    assert "X-BAD" in with_refused.stdout and "refused" in with_refused.stdout


def test_the_backend_example_runs(stack: Stack) -> None:
    example = str(ROOT / "examples" / "backend_client.py")
    results = [stack.run(sys.executable, example, f"X-EX-{n}") for n in range(RUNS)]
    assert _codes(results) == [0] * RUNS, [r.stderr[-1000:] for r in results if r.returncode]
    out = results[0].stdout
    assert "X-EX-0: awaiting_merchant" in out
    assert "refused as expected" in out
    assert "X-EX-0: awaiting_shipment" in out
    rerun = stack.run(sys.executable, example, "X-EX-0")  # the same case again: no error, the key applies once
    assert rerun.returncode == 0 and "(already open)" in rerun.stdout, rerun.stdout + rerun.stderr
