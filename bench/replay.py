"""Replay: recorded histories of the policy tests per second through the Replayer, against reading
the same histories from JSON (the floor any replay pays)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from bench.common import ROOT, Result
from worker import workflow_runner
from workflows.case_workflow import AfterSalesCase

HISTORIES = ROOT / "tests" / "histories"


def _load(paths: list[Path]) -> list[WorkflowHistory]:
    return [WorkflowHistory.from_json(p.stem, p.read_text(encoding="utf-8")) for p in paths]


async def _replay(histories: list[WorkflowHistory]) -> int:
    replayer = Replayer(
        workflows=[AfterSalesCase], workflow_runner=workflow_runner(), data_converter=pydantic_data_converter
    )

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    results = await replayer.replay_workflows(each(), raise_on_replay_failure=False)
    failures = sum(1 for r in results.replay_failures.values() if r is not None)
    if failures:
        raise RuntimeError(f"{failures} histories failed to replay")
    return len(histories)


def run(quick: bool) -> Result:
    paths = sorted(HISTORIES.glob("*.json"))
    rounds = 2 if quick else 5
    result = Result(
        "replay",
        f"Replay: {len(paths)} recorded histories, best of {rounds}",
        ["step", "histories", "histories /s", "ratio to reading JSON"],
    )
    read_rates, replay_rates = [], []
    events = 0
    for _ in range(rounds):
        start = time.perf_counter()
        histories = _load(paths)
        read_rates.append(len(paths) / (time.perf_counter() - start))
        events = sum(len(h.events) for h in histories)
        start = time.perf_counter()
        asyncio.run(_replay(histories))
        replay_rates.append(len(paths) / (time.perf_counter() - start))
    read, replay = max(read_rates), max(replay_rates)
    result.rows.append(["read JSON (baseline)", len(paths), read, 1.0])
    result.rows.append(["replay AfterSalesCase", len(paths), replay, replay / read])
    result.notes.append(f"{events:,} history events in all, {events / len(paths):.0f} per history on average")
    result.data = {"read": read_rates, "replay": replay_rates, "events": events}
    return result
