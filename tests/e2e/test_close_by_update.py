"""A case closed by an update when it has no timer left ends its run (patch `close-ends-run`)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from tests.e2e.close_by_update_case import run_closed_case
from workflows.contract import PATCH_CLOSE_ENDS_RUN

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


async def test_an_update_closing_a_case_without_timers_ends_its_run(env: WorkflowEnvironment) -> None:
    live, ended = await run_closed_case(env, "aftersales-close-by-update", patience=30)

    assert ended, "the case closed but its run kept waiting"
    assert live.status.closed and live.status.state == "done"
    description = await live.handle.describe()
    assert description.status == WorkflowExecutionStatus.COMPLETED


def test_the_corpus_holds_both_sides_of_the_patch() -> None:
    def events(name: str) -> list[dict[str, object]]:
        history = json.loads((HISTORIES / f"{name}.json").read_text(encoding="utf-8"))
        return list(history["events"])

    stuck = events("release-7-close-by-update-stuck")
    ended = events("path-close-by-update-ends-run")
    kinds = [e["eventType"] for e in stuck]
    assert "EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED" in kinds
    assert "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED" not in kinds  # the release-7 run never returned
    assert ended[-1]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"
    patches = [
        json.loads(base64.b64decode(payload["data"]))["id"]
        for e in ended
        if e["eventType"] == "EVENT_TYPE_MARKER_RECORDED"
        for payload in e["markerRecordedEventAttributes"]["details"]["patch-data"]["payloads"]  # type: ignore[index]
    ]
    assert patches == [PATCH_CLOSE_ENDS_RUN]
