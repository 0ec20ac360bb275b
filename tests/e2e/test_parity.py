"""Every policy test also runs as a real workflow and tells the same story as `aftersales simulate`."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.outbox import Outbox
from policy_engine.language import PolicySet
from policy_engine.testing import load_scenario, run_scenario, scenario_files
from tests.conftest import SCENARIOS
from tests.e2e.conftest import TASK_QUEUE
from tests.e2e.harness import Deferred, run_live, story

FILES = scenario_files([SCENARIOS])


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_workflow_tells_the_same_story_as_the_simulator(
    path: Path, env: WorkflowEnvironment, outbox: Outbox, deferred: Deferred, policy_set: PolicySet
) -> None:
    scenario = load_scenario(path)
    simulated = run_scenario(policy_set, scenario)
    live = await run_live(env, scenario, TASK_QUEUE, deferred)

    sim_states, sim_actions = story(simulated.timeline)
    live_states, live_actions = story([e.model_dump(mode="json") for e in live.timeline.entries])
    assert live_states == sim_states
    assert live_actions == sim_actions
    assert live.status.state == simulated.final_state
    assert live.status.closed == simulated.closed
    assert live.status.policy_version == simulated.policy_version
    assert {k: v["status"] for k, v in live.status.sla.items()} == {k: v["status"] for k, v in simulated.sla.items()}
    # Refused events: the validator refused the same number the simulator did (or the case had closed).
    assert len(live.refused) == simulated.rejected_events
    # Every effect reached the outbox exactly once, under the engine's idempotency key.
    rows = outbox.list(case_id=live.case_id)
    effects = [a for a in live_actions if a not in ("record",)]
    assert sorted(r["type"] for r in rows) == sorted(effects)
