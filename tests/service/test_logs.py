"""The worker's log lines: one JSON object per line, whichever thread and library wrote them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.cli import ROOT

# Our structlog events and the standard library's records (the SDK's), from many threads at once:
# each line must come out whole. Two writers to stderr, each with its own lock, cut into each other:
# a line longer than the stream's 8 KB buffer is written in parts, the lock-free gap between them is
# where another thread's line lands (seen in a worker's log as two JSON objects on one line).
_WRITERS = textwrap.dedent(
    """
    import logging, sys, threading
    import structlog
    from service.logs import configure_logging

    configure_logging("json")
    sys.setswitchinterval(1e-6)  # threads switch as often as they can
    ours = structlog.get_logger("aftersales.test").bind(case_id="R-1")
    sdk = logging.getLogger("temporalio.worker")

    def write(n: int) -> None:
        for i in range(100):
            ours.info("effect", key=f"R-1/{n}/{i}/notify", padding="x" * 9000)
            sdk.info("polling activities %s", "y" * 200, extra={"n": n})

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    """
)


def test_lines_from_many_threads_and_both_libraries_are_each_one_json_object() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _WRITERS],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    events = [json.loads(line) for line in lines]  # a line cut into by another fails here
    assert len(events) == 8 * 100 * 2
    ours = [e for e in events if e["event"] == "effect"]
    assert len(ours) == 800 and all(e["case_id"] == "R-1" and e["level"] == "info" for e in ours)
    sdk = [e for e in events if e.get("logger") == "temporalio.worker"]
    assert len(sdk) == 800 and all(e["event"].startswith("polling activities") for e in sdk)
