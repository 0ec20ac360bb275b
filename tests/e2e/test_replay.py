"""Recorded histories of the default scenarios replay without non-determinism against today's code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from policy_engine.testing import scenario_files
from tests.conftest import SCENARIOS
from worker import workflow_runner
from workflows.case_workflow import AfterSalesCase
from workflows.contract import UPDATE_OPEN, UPDATE_SUBMIT_EVENT

HISTORIES = sorted((Path(__file__).resolve().parent.parent / "histories").glob("*.json"))


def test_every_policy_test_and_every_path_has_a_history() -> None:
    """One history per policy test (`make histories` adds the missing ones), and the paths a policy
    test does not take: the opening by update-with-start and a case that continues as new."""
    names = {p.stem for p in HISTORIES}
    missing = [p.stem for p in scenario_files([SCENARIOS]) if p.stem not in names]
    assert not missing, f"no recorded history for {missing}: run `make histories`"
    # Both sides of the `platform-reports-only` patch: a report sent by signal from outside, applied by
    # release 2, refused since (README "Security model").
    assert {"release-2-report-signal-applied", "path-report-from-outside"} <= names
    # Both sides of `working-day-pauses`: a paused working-day clock's time left kept in elapsed time by
    # release 6, in working-day time since.
    assert {"release-6-working-day-pause-elapsed", "path-working-day-pauses"} <= names
    # Both sides of `close-ends-run`: a case an update closed with no timer left, its run left waiting
    # by release 7, returning since.
    assert {"release-7-close-by-update-stuck", "path-close-by-update-ends-run"} <= names
    kinds: set[str] = set()
    updates: set[str] = set()
    for path in HISTORIES:
        for event in json.loads(path.read_text(encoding="utf-8"))["events"]:
            kinds.add(event["eventType"])
            accepted = event.get("workflowExecutionUpdateAcceptedEventAttributes")
            if accepted:
                updates.add(accepted["acceptedRequest"]["input"]["name"])
    assert {"EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW", "EVENT_TYPE_MARKER_RECORDED"} <= kinds  # marker: patched
    assert {UPDATE_OPEN, UPDATE_SUBMIT_EVENT} <= updates


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
    replayer = Replayer(
        workflows=[AfterSalesCase], workflow_runner=workflow_runner(), data_converter=pydantic_data_converter
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
