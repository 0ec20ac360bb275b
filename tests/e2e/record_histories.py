"""Record the workflow histories of the default policy tests into tests/histories/.

`make histories` records the scenarios that have no history yet (new policy tests); existing ones
are kept, never re-recorded. The replay test proves the current code replays every one of them.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from aftersales_cli.devserver import test_server_binary as find_test_server
from bench.cases import RETURN_EVENTS, return_case_data, sender_of
from policy_engine.testing import load_scenario, scenario_files
from starter import CaseClient
from tests.conftest import POLICIES, SCENARIOS
from tests.e2e.harness import Deferred, register_search_attributes, run_live, running_worker
from workflows.case_workflow import AfterSalesCase
from workflows.contract import CaseStart, OpenRequest, workflow_id_for

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
TASK_QUEUE = "aftersales-record"


async def record() -> None:
    HISTORIES.mkdir(exist_ok=True)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_test_server(), data_converter=pydantic_data_converter
    )
    await register_search_attributes(env.client)
    deferred = Deferred()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with running_worker(env.client, POLICIES, Path(tmp) / "o.sqlite3", TASK_QUEUE, deferred):
                for path in scenario_files([SCENARIOS]):
                    target = HISTORIES / f"{path.stem}.json"
                    if target.exists():
                        # The corpus keeps what earlier releases recorded: a history is added, never
                        # replaced (the replay test proves today's code still replays the old ones).
                        print(f"kept {target.name}")
                        continue
                    live = await run_live(env, load_scenario(path), TASK_QUEUE, deferred)
                    history = await live.handle.fetch_history()
                    target.write_text(history.to_json(), encoding="utf-8")
                    print(f"recorded {path.stem} ({len(history.events)} events)")
                await record_paths(env)
    finally:
        await env.shutdown()


async def record_paths(env: WorkflowEnvironment) -> None:
    """The paths no policy test takes: an opening by update-with-start (as CaseClient opens), and a
    case that continues as new mid-run (both runs). Each is recorded only when missing."""
    opened = HISTORIES / "path-open-by-update-with-start.json"
    first, last = HISTORIES / "path-continue-as-new-first-run.json", HISTORIES / "path-continue-as-new-last-run.json"
    cases = CaseClient(env.client, TASK_QUEUE)
    now = await env.get_current_time()
    if not opened.exists():
        case_id = f"OPEN-{uuid.uuid4().hex[:8]}"
        opening = return_case_data(1, now)
        await cases.open("return", case_id, opening)
        await cases.open("return", case_id, opening)  # the same opening again: answered, not opened
        for i, (name, role, data) in enumerate(RETURN_EVENTS):
            await cases.event(case_id, name, role, sender_of(opening, role), data, key=f"{case_id}/{i}")
        handle = cases.handle(case_id)
        await handle.result()
        opened.write_text((await handle.fetch_history()).to_json(), encoding="utf-8")
        print(f"recorded {opened.name}")
    if not first.exists() or not last.exists():
        case_id = f"CAN-{uuid.uuid4().hex[:8]}"
        start = CaseStart(
            open=OpenRequest(case_id=case_id, case_type="return", data=return_case_data(1, now)), history_limit=15
        )
        started = await env.client.start_workflow(
            AfterSalesCase.run, start, id=workflow_id_for(case_id), task_queue=TASK_QUEUE
        )
        for i, (name, role, data) in enumerate(RETURN_EVENTS):
            await cases.event(case_id, name, role, sender_of(start.open.data, role), data, key=f"{case_id}/{i}")
        latest = env.client.get_workflow_handle(workflow_id_for(case_id))
        await latest.result()
        earliest = env.client.get_workflow_handle(workflow_id_for(case_id), run_id=started.result_run_id)
        first.write_text((await earliest.fetch_history()).to_json(), encoding="utf-8")
        last.write_text((await latest.fetch_history()).to_json(), encoding="utf-8")
        print(f"recorded {first.name} and {last.name}")


if __name__ == "__main__":
    asyncio.run(record())
