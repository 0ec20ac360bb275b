"""What-if on past cases: two policy sets compared on 10,000 past cases (`simulate --compare
--cases`), against plain simulation of the same cases under one set in the same run.

The past cases are generated scenarios (bench.scenario_gen: every shipped policy test moved by whole
weeks), standing for the opening data and accepted events that `audit.whatif` reads from real
histories. What is measured is the what-if path after loading: each case replayed under both sets
and the outcomes compared. Loading itself is measured on the recorded case histories of
tests/histories/ (reading the JSON, decoding the payloads, turning each case into a scenario).
The issue's target: 10,000 cases compared in under a minute on this machine.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from audit.history import read_histories
from audit.scenario import case_scenario
from audit.verify import pinned_of
from bench.common import ROOT, Result, console
from bench.scenario_gen import write
from policy_engine.language import load_policy_set
from policy_engine.testing import Scenario, compare_results, load_scenario, run_scenario
from workflows.contract import WORKFLOW_TYPE

HISTORIES = ROOT / "tests" / "histories"
TARGET_SECONDS = 60.0
WEEK = "length: 7 calendar days         # CPL 25, 7D art. 10"


def _draft(folder: Path) -> Path:
    """The live set with a 3-day no-reason return window instead of 7: a draft that changes cases."""
    draft = folder / "draft"
    shutil.copytree(ROOT / "policies", draft)
    returns = draft / "returns.yaml"
    text = returns.read_text(encoding="utf-8")
    assert WEEK in text, "the return window line moved: update bench/whatif.py"
    returns.write_text(text.replace(WEEK, "length: 3 calendar days"), encoding="utf-8")
    return draft


def _scenarios(folder: Path, count: int) -> list[Scenario]:
    return [load_scenario(path) for path in write(folder / "cases", count)]


async def _load_histories() -> int:
    files = sorted(HISTORIES.glob("*.json"))
    cases = 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        started = json.loads(text)["events"][0]["workflowExecutionStartedEventAttributes"]
        if started["workflowType"]["name"] != WORKFLOW_TYPE or started.get("continuedExecutionRunId"):
            continue  # a later run is read with its first one in real use; one run each here
        case = await read_histories([WorkflowHistory.from_json(path.stem, text)], pydantic_data_converter)
        if case.pinned is not None:
            case_scenario(case, pinned_of(case))
            cases += 1
    return cases


def run(quick: bool) -> Result:
    count = 2000 if quick else 10_000
    result = Result(
        "whatif",
        f"What-if on {count:,} past cases: two policy sets compared, against simulating them once",
        ["path", "cases", "seconds", "cases /s", "ratio to baseline"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        old, new = load_policy_set([ROOT / "policies"]), load_policy_set([_draft(Path(tmp))])
        with console.status(f"generating {count:,} past cases"):
            scenarios = _scenarios(Path(tmp), count)

        start = time.perf_counter()
        for scenario in scenarios:
            run_scenario(old, scenario)
        baseline_s = time.perf_counter() - start

        start = time.perf_counter()
        report = compare_results([run_scenario(old, s) for s in scenarios], [run_scenario(new, s) for s in scenarios])
        whatif_s = time.perf_counter() - start

    start = time.perf_counter()
    loaded = asyncio.run(_load_histories())
    load_s = time.perf_counter() - start

    result.rows.append(["simulate under one set (baseline)", count, baseline_s, count / baseline_s, 1.0])
    result.rows.append(["compare under two sets", count, whatif_s, count / whatif_s, baseline_s / whatif_s])
    result.rows.append(["load from recorded histories (JSON, decode, scenario)", loaded, load_s, loaded / load_s, ""])
    result.data = {"changed": len(report.changed), "total": report.total, "target_seconds": TARGET_SECONDS}
    result.notes.append(
        f"{len(report.changed):,} of {report.total:,} cases would end differently under the draft "
        f"(3-day return window); {count:,} compared in {whatif_s:.1f} s (target: under {TARGET_SECONDS:.0f} s)."
    )
    return result
