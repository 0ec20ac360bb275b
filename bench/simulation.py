"""Simulation throughput: scenarios per second through the engine and through `aftersales simulate`.

Baseline: the target of 2,000 scenarios a second, single process. The command line figure includes
reading and checking every file and printing the JSON results; the engine figure is scenarios
already loaded, run on the case engine in virtual time.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import ROOT, Result, console
from bench.scenario_gen import write
from policy_engine.language import load_policy_set
from policy_engine.testing import load_scenario, run_scenario

TARGET = 2000.0


def run(quick: bool) -> Result:
    count = 2000 if quick else 10_000
    result = Result(
        "simulation",
        f"Simulation throughput: {count:,} generated scenarios, one process",
        ["path", "scenarios", "seconds", "scenarios /s", "ratio to target 2,000 /s"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "scenarios"
        with console.status(f"generating {count:,} scenarios"):
            paths = write(folder, count)
        policies = load_policy_set([ROOT / "policies"])
        scenarios = [load_scenario(p) for p in paths]
        loops = Counter(s.case_type for s in scenarios)
        start = time.perf_counter()
        outcomes = Counter()
        for scenario in scenarios:
            sim = run_scenario(policies, scenario)
            outcomes["error" if sim.error else "ran"] += 1
        engine_s = time.perf_counter() - start
        result.rows.append(["engine (loaded scenarios)", count, engine_s, count / engine_s, count / engine_s / TARGET])

        with console.status(f"aftersales simulate --json over {count:,} files"):
            start = time.perf_counter()
            proc = subprocess.run(
                [str(Path(sys.executable).parent / "aftersales"), "simulate", "--json", str(folder)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                check=False,
            )
            cli_s = time.perf_counter() - start
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"aftersales simulate failed: {proc.stderr.decode()[-500:]}")
        result.rows.append(
            ["aftersales simulate --json (files, process start)", count, cli_s, count / cli_s, count / cli_s / TARGET]
        )
    result.data = {"loops": dict(loops), "outcomes": dict(outcomes)}
    result.notes.append("Loops in the set: " + ", ".join(f"{k} {v}" for k, v in sorted(loops.items())))
    return result
