"""Every policy test also runs as a real workflow and tells the same story as `aftersales simulate`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

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
    assert live.status.decisions == simulated.decisions
    assert live.status.escalation_level == simulated.escalation_level
    # Every entry of the audit trail, contents included (amounts, recipients, locales, rule ids, due
    # times), but refusals: the live validator refuses without a trace, by design.
    reports = deferred.by_case[live.case_id]
    assert _trail(live.timeline.entries, live.case_id, scenario.case_id, reports) == _trail(
        simulated.timeline, scenario.case_id, scenario.case_id
    )
    # Refused events: the same number, and the validator's reasons are the simulator's, in order (the
    # ones after the case closed come last and are refused by the server instead).
    assert len(live.refused) == simulated.rejected_events
    reasons = [e["detail"]["reason"] for e in simulated.timeline if e["kind"] == "refused"]
    by_validator = [r for r in live.refused if not r.startswith("the case is closed")]
    assert by_validator == reasons[: len(by_validator)]
    # Every effect reached the outbox exactly once, under the engine's idempotency key.
    rows = outbox.list(case_id=live.case_id)
    effects = [a for a in live_actions if a not in ("record",)]
    assert sorted(r["type"] for r in rows) == sorted(effects)


def _trail(entries: list[Any], case_id: str, scenario_case_id: str, reports: set[str] | None = None) -> list[Any]:
    """Timeline entries as JSON, refusals left out, the live case's unique id read as the scenario's.

    A live case runs at the scenario's dates by the worker's backdating capability, which its `open`
    entry records (`backdated`); the simulator has no server time to differ from. A report the
    scenario sends (`reports`, as the payment service would) carries its effect's report key live.
    """
    out = []
    for entry in entries:
        data = entry.model_dump(mode="json") if hasattr(entry, "model_dump") else entry
        if data["kind"] == "refused":
            continue
        if data["kind"] == "open":
            data = {**data, "detail": {k: v for k, v in data["detail"].items() if k != "backdated"}}
        if data["kind"] == "event" and data["name"] in (reports or set()):
            data = {**data, "detail": {k: v for k, v in data["detail"].items() if k != "key"}}
        text = json.dumps({k: v for k, v in data.items() if k != "at"}, sort_keys=True, ensure_ascii=False)
        out.append((_minute(str(data["at"])), _coarse(json.loads(text.replace(case_id, scenario_case_id)))))
    return out


def _minute(text: str) -> dt.datetime:
    """Live events reach the case a few milliseconds after the scenario's moment (the server's clock
    decides), so times, and durations measured from them, are compared to the minute."""
    moment = dt.datetime.fromisoformat(text).astimezone(dt.UTC)
    return (moment + dt.timedelta(seconds=30)).replace(second=0, microsecond=0)


def _coarse(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _coarse(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_coarse(v, key) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and key.endswith("seconds"):
        return round(value / 60)
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            return _minute(value).isoformat()
        except ValueError:
            return value
    return value
