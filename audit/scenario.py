"""A real case as a scenario file (shared/scenarios.md): its opening, its accepted events at their
absolute times, and, for an export, its actual outcome as the scenario's `expect`.

The events are those the case accepted from outside: updates, and signals whose sender was admitted.
An action's result the worker reported (a refund completing at once) is left to the simulator, which
answers it the same way; a report that came from outside (a payment callback) is listed, without its
one-time key.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import yaml
from pydantic_core import to_json

from audit.history import CaseHistory
from audit.replay import Replay
from policy_engine.engine import Actor, states_entered
from policy_engine.language import ResolvedPolicy
from policy_engine.testing import Scenario, ScenarioEvent
from workflows.trust import reported_events


def _plain(value: Any) -> Any:
    return json.loads(to_json(value))


def case_scenario(case: CaseHistory, policy: ResolvedPolicy | None = None) -> Scenario:
    """The case's opening and accepted events as a scenario (no `expect`), run to its last moment."""
    reports = frozenset() if policy is None else reported_events(policy)
    events: list[ScenarioEvent] = []
    for received in case.inputs:
        request = received.request
        if request is None or (received.verdict is not None and not received.verdict.admitted):
            continue
        events.append(
            ScenarioEvent(
                at=received.at,
                name=request.name,
                actor=Actor(role=request.role, id=request.actor_id),
                data=request.data,
                key=None if request.name in reports else request.key,
            )
        )
    until = case.last_task_at
    if events and until is not None and isinstance(events[-1].at, type(until)) and until < events[-1].at:
        until = None
    scenario = Scenario(
        case_type=case.opening.case_type,
        case_id=case.case_id,
        opened_at=case.opened_at,
        data=case.opening.data,
        events=events,
        until=until,
    )
    scenario.file = case.workflow_id
    return scenario


def expectation_of(replay: Replay) -> dict[str, Any]:
    """The case's outcome as a scenario's `expect` (from the replay that verified against the record)."""
    final = replay.final
    effects = Counter(
        json.dumps({"type": command.type, "params": _without_message(_plain(command.params))}, sort_keys=True)
        for _, command in replay.actions
    )
    expect: dict[str, Any] = {
        "state": final.state,
        "closed": final.closed,
        "rejected_events": final.refused,
        "sla": {name: clock.status for name, clock in final.sla.items()},
        "decisions": {table: taken.rule for table, taken in final.decisions.items()},
        "escalation_level": final.escalation_level,
        "counters": dict(final.counters),
        "states_visited": states_entered(final.timeline),
        "effects": [{**json.loads(effect), "count": count} for effect, count in effects.items()],
        "timers": {name: due.isoformat() for name, due in sorted(final.timers.items())},
    }
    return {key: value for key, value in expect.items() if value not in ({}, [])}


def _without_message(params: dict[str, Any]) -> dict[str, Any]:
    """An effect's params but its rendered text (long; `params` match partially, so it may be left out)."""
    return {k: v for k, v in params.items() if k != "message"}


def scenario_yaml(scenario: Scenario, expect: dict[str, Any], header: str) -> str:
    """The scenario file's text: `# header` lines, then the contract's keys with absolute times."""
    body: dict[str, Any] = {
        "case_type": scenario.case_type,
        "case_id": scenario.case_id,
        "opened_at": scenario.opened_at.isoformat(),
        "data": _plain(scenario.data),
        "events": [
            {
                "at": _plain(event.at),
                "name": event.name,
                "actor": {"role": event.actor.role, "id": event.actor.id},
                **({"data": _plain(event.data)} if event.data else {}),
                **({"key": event.key} if event.key else {}),
            }
            for event in scenario.events
        ],
        **({"until": _plain(scenario.until)} if scenario.until is not None else {}),
        "expect": expect,
    }
    comments = "".join(f"# {line}\n" for line in header.splitlines())
    return comments + yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=120)
