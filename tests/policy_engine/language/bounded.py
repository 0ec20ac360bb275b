"""Running something that might hang or eat the machine, bounded: a regression of a limit then fails
its test instead of taking the test run (or CI's machine) down with it."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

from tests.conftest import ROOT

MEMORY_BYTES = 1_500_000_000  # address space: Python, Jinja and pydantic fit in far less
TIMEOUT_SECONDS = 60  # a bound on a hang, not a timing assertion: the checks take well under a second


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


def run_bounded(*args: str) -> subprocess.CompletedProcess[str]:
    """`python ARGS...` in the project folder, with its memory and time bounded."""
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
        timeout=TIMEOUT_SECONDS,
        preexec_fn=_limit_memory,
        check=False,
    )


def validate_bounded(*paths: str) -> subprocess.CompletedProcess[str]:
    """`aftersales policy validate PATHS...`, bounded."""
    return run_bounded("-m", "aftersales_cli.main", "policy", "validate", *paths)
