"""Record the workflow histories of the default policy tests into tests/histories/.

`make histories` records the scenarios that have no history yet (new policy tests); existing ones
are kept, never re-recorded. The replay test proves the current code replays every one of them.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from aftersales_cli.devserver import test_server_binary as find_test_server
from policy_engine.testing import load_scenario, scenario_files
from tests.conftest import POLICIES, SCENARIOS
from tests.e2e.harness import Deferred, register_search_attributes, run_live, running_worker

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
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())
