"""A case closed by an update when it has no timer left, for the replay corpus and the e2e test.

`ticket-close` has no deadline, no clock and no action: `finish` takes the case from `running` to
`done` and nothing else. Before the `close-ends-run` patch the update closed the case and nothing
woke the run's loop (it waits for an event, an action or a timer change): the workflow stayed
running for ever with a closed case (`release-7-close-by-update-stuck.json`, recorded with that
release's code). Since, the close wakes the loop and the run returns
(`path-close-by-update-ends-run.json`, recorded by `make histories`).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from policy_engine.testing import Scenario, parse_scenario_text
from tests.e2e.harness import SCENARIO_DATES, Deferred, LiveRun, policy_folder_of, run_live, running_worker

POLICY = """
policies:
  - policy: ticket-close
    title: A case an update closes with no timer left (replay corpus only)
    case_type: ticket
    calendar: cn-mainland
    locales: [en]
    events:
      finish: {roles: [agent]}
    open:
      goto: running
    states:
      running:
        on: {finish: done}
      done: {terminal: true}
"""

SCENARIO = """
case_type: ticket
case_id: CBU-1
opened_at: 2026-11-05T10:00:00+08:00
events:
  - {at: 2026-11-05T11:00:00+08:00, name: finish, actor: {role: agent, id: A-1}}
"""


def scenario() -> Scenario:
    return parse_scenario_text(SCENARIO, "close-by-update.yaml")


def policy_folder(folder: Path) -> Path:
    return policy_folder_of(folder, "ticket-close.yaml", POLICY)


async def run_closed_case(env: WorkflowEnvironment, task_queue: str, patience: float) -> tuple[LiveRun, bool]:
    """Run the case on a worker of its own; whether its run returned within `patience` seconds."""
    deferred = Deferred()
    with tempfile.TemporaryDirectory() as tmp:
        folder = policy_folder(Path(tmp) / "policies")
        async with running_worker(env.client, folder, Path(tmp) / "o.sqlite3", task_queue, deferred, SCENARIO_DATES):
            live = await run_live(env, scenario(), task_queue, deferred)
            try:
                # In real time: skipping time would run a stuck case into the server's run timeout.
                with env.auto_time_skipping_disabled():
                    await asyncio.wait_for(live.handle.result(), patience)
                ended = True
            except TimeoutError:
                ended = False
    return live, ended


async def record_closed_case(env: WorkflowEnvironment, target: Path, task_queue: str) -> None:
    """Run the case and write its history to `target` (ended or not: the history is what it is)."""
    live, ended = await run_closed_case(env, task_queue, patience=10)
    history = await live.handle.fetch_history()
    target.write_text(history.to_json(), encoding="utf-8")
    print(f"recorded {target.name} ({len(history.events)} events, run {'ended' if ended else 'still running'})")
