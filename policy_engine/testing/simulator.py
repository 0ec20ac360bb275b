"""Run scenarios in virtual time on the case engine: the driver behind `simulate`, policy tests and
what-if comparisons. It follows the same rules as the live workflow: timers that fall due before an
event fire first; an action that reports back is answered at once with success unless the scenario
lists the answer itself.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from policy_engine.engine import (
    CaseState,
    EventIn,
    OpenCase,
    OpenRefused,
    RunAction,
    StepResult,
    TimelineEntry,
    failure_messages,
    fire_due,
    open_case,
    report_event,
    states_entered,
    step,
)
from policy_engine.language import PolicySet, ResolvedPolicy, SelectionError
from policy_engine.testing.scenario import EffectExpectation, Scenario


class ActionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: dt.datetime
    type: str
    params: dict[str, Any]
    key: str


def money_by_action(actions: list[ActionRecord]) -> dict[str, str]:
    """The total `amount` the actions of each type pay (refunds, advance payments), to the cent.

    Amounts are summed as decimals of their text, as the engine computes them, so that 0.10 three
    times is 0.30; an amount that is not a number is not money and is left out.
    """
    totals: dict[str, Decimal] = {}
    for action in actions:
        amount = action.params.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int | float | str | Decimal):
            continue
        try:
            value = Decimal(str(amount))
        except InvalidOperation:
            continue
        if value.is_finite():
            totals[action.type] = totals.get(action.type, Decimal(0)) + value
    return {kind: f"{total.quantize(Decimal('0.01'))}" for kind, total in sorted(totals.items())}


class SimulationResult(BaseModel):
    """What `simulate --json` prints for one scenario (shared/scenarios.md, plus extensions)."""

    model_config = ConfigDict(extra="forbid")
    file: str = ""
    case_id: str
    case_type: str
    policy_id: str = ""
    policy_version: str = ""
    final_state: str = ""
    closed: bool = False
    passed: bool | None = None
    failures: list[str] = Field(default_factory=list)
    error: str | None = None
    timeline: list[dict[str, Any]] = Field(default_factory=list)
    actions: list[ActionRecord] = Field(default_factory=list)
    sla: dict[str, dict[str, Any]] = Field(default_factory=dict)
    counters: dict[str, int] = Field(default_factory=dict)
    records: dict[str, Any] = Field(default_factory=dict)
    escalation_level: int = 0
    rejected_events: int = 0
    states_visited: list[str] = Field(default_factory=list)
    decisions: dict[str, str] = Field(default_factory=dict)
    # The deadlines still open at the end: timer name -> due time (ISO 8601).
    timers: dict[str, str] = Field(default_factory=dict)
    # Where the policy failed on the way (the message of each `error` timeline entry): a policy test
    # fails on any, so a decision that errs is never passed over.
    policy_errors: list[str] = Field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The outcome an operator compares across policy versions."""
        return {
            "final_state": self.final_state,
            "closed": self.closed,
            "actions": [a.type for a in self.actions],
            "amounts": money_by_action(self.actions),
            "sla": {k: v.get("status") for k, v in self.sla.items()},
            "decisions": self.decisions,
            "escalation_level": self.escalation_level,
            "rejected_events": self.rejected_events,
            "error": self.error,
            "policy_errors": self.policy_errors,
        }


class _Driver:
    """Runs one scenario: opens the case, fires due timers before each event, answers reports."""

    def __init__(self, resolved: ResolvedPolicy, scenario: Scenario) -> None:
        self.resolved = resolved
        self.scenario = scenario
        self.listed = {e.name for e in scenario.events}
        self.actions: list[ActionRecord] = []
        self.state: CaseState | None = None

    def absorb(self, result: StepResult, at: dt.datetime) -> CaseState:
        """Take a step's result in: record its actions, answer the reports no scenario event gives."""
        self.state = result.state
        reports: list[EventIn] = []
        for command in result.commands:
            if isinstance(command, RunAction):
                self.actions.append(ActionRecord(at=at, type=command.type, params=command.params, key=command.key))
                if command.reports and command.reports not in self.listed:
                    report = report_event(self.resolved, command, at)
                    if report is not None:
                        reports.append(report)
        for report in reports:
            self.absorb(step(self.resolved, self.state, report), at)
        return self.state

    def fire_timers(self, until: dt.datetime) -> CaseState:
        """Fire the timers due at or before `until`."""
        assert self.state is not None, "the case is not open yet"
        return fire_due(self.resolved, self.state, until, absorb=lambda result, timer: self.absorb(result, timer.at))

    def run(self) -> CaseState:
        scenario = self.scenario
        opening = OpenCase(
            case_id=scenario.case_id, case_type=scenario.case_type, data=scenario.data, at=scenario.opened_at
        )
        case = self.absorb(open_case(self.resolved, opening), scenario.opened_at)
        timed = scenario.timed_events()
        for at, event in timed:
            # Timers due at or before the event's time fire first.
            case = self.fire_timers(at)
            if case.closed:
                break
            received = EventIn(name=event.name, actor=event.actor, data=event.data, at=at, key=event.key)
            case = self.absorb(step(self.resolved, case, received), at)
        return self.fire_timers(scenario.end_time(timed))


def run_scenario(policy_set: PolicySet, scenario: Scenario) -> SimulationResult:
    """Select the policy as a live case would, then run the scenario on it."""
    try:
        resolved = policy_set.select(scenario.case_type, scenario.data, scenario.opened_at)
    except SelectionError as exc:
        return _failed(scenario, str(exc))
    return run_on_policy(resolved, scenario)


def run_on_policy(resolved: ResolvedPolicy, scenario: Scenario) -> SimulationResult:
    driver = _Driver(resolved, scenario)
    try:
        state = driver.run()
    except OpenRefused as exc:
        result = _failed(scenario, str(exc))
        result.policy_id, result.policy_version = resolved.id, resolved.version
        return result
    result = result_of(state, driver.actions, scenario.file)
    if scenario.expect is not None:
        result.failures = [f"the policy failed: {e}" for e in result.policy_errors]
        result.failures += check_expectations(scenario, result)
        result.passed = not result.failures
    return result


_TIMELINE = TypeAdapter(list[TimelineEntry])


def result_of(state: CaseState, actions: list[ActionRecord], file: str = "") -> SimulationResult:
    """What a scenario's run comes to, as `simulate --json` prints it."""
    return SimulationResult(
        file=file,
        case_id=state.case_id,
        case_type=state.case_type,
        policy_id=state.policy_id,
        policy_version=state.policy_version,
        final_state=state.state,
        closed=state.closed,
        timeline=_TIMELINE.dump_python(state.timeline, mode="json"),
        actions=actions,
        sla={
            name: {
                "status": clock.status,
                "due": clock.due.isoformat() if clock.due else None,
                "started_at": clock.started_at.isoformat() if clock.started_at else None,
                "stopped_at": clock.stopped_at.isoformat() if clock.stopped_at else None,
            }
            for name, clock in state.sla.items()
        },
        counters=dict(state.counters),
        records=dict(state.records),
        escalation_level=state.escalation_level,
        rejected_events=state.refused,
        states_visited=states_entered(state.timeline),
        decisions={name: taken.rule for name, taken in state.decisions.items()},
        timers={name: due.isoformat() for name, due in sorted(state.timers.items(), key=lambda kv: (kv[1], kv[0]))},
        policy_errors=failure_messages(state.timeline),
    )


def _failed(scenario: Scenario, error: str) -> SimulationResult:
    result = SimulationResult(file=scenario.file, case_id=scenario.case_id, case_type=scenario.case_type, error=error)
    if scenario.expect is not None:
        result.failures = [f"the case could not run: {error}"]
        result.passed = False
    return result


def check_expectations(scenario: Scenario, result: SimulationResult) -> list[str]:
    expected = scenario.expect
    if expected is None:
        return []
    failures: list[str] = []
    types = [a.type for a in result.actions]
    if expected.state is not None and result.final_state != expected.state:
        failures.append(f"state: expected {expected.state}, got {result.final_state}")
    if expected.closed is not None and result.closed != expected.closed:
        failures.append(f"closed: expected {expected.closed}, got {result.closed}")
    for action in expected.actions_include:
        if action not in types:
            failures.append(f"actions_include: no '{action}' action happened")
    for action in expected.actions_exclude:
        if action in types:
            failures.append(f"actions_exclude: a '{action}' action happened")
    if expected.rejected_events is not None and result.rejected_events != expected.rejected_events:
        failures.append(f"rejected_events: expected {expected.rejected_events}, got {result.rejected_events}")
    for clock, status in expected.sla.items():
        got = result.sla.get(clock, {}).get("status")
        if got != status:
            failures.append(f"sla.{clock}: expected {status}, got {got}")
    for table, rule in expected.decisions.items():
        if result.decisions.get(table) != rule:
            failures.append(f"decisions.{table}: expected row {rule}, got {result.decisions.get(table)}")
    for counter, value in expected.counters.items():
        if result.counters.get(counter) != value:
            failures.append(f"counters.{counter}: expected {value}, got {result.counters.get(counter)}")
    if expected.escalation_level is not None and result.escalation_level != expected.escalation_level:
        failures.append(f"escalation_level: expected {expected.escalation_level}, got {result.escalation_level}")
    for name, value in expected.records.items():
        if result.records.get(name) != value:
            failures.append(f"records.{name}: expected {value}, got {result.records.get(name)}")
    for state in expected.states_visited:
        if state not in result.states_visited:
            failures.append(f"states_visited: never entered '{state}'")
    for index, effect in enumerate(expected.effects):
        failures.extend(_effect_failures(index, effect, scenario, result.actions))
    for name, when in expected.timers.items():
        failures.extend(_timer_failures(name, scenario.time_of(when), result.timers))
    return failures


def _timer_failures(name: str, due: dt.datetime, timers: dict[str, str]) -> list[str]:
    got = timers.get(name)
    if got is None:
        pending = ", ".join(timers) or "none"
        return [f"timers.{name}: expected due at {due.isoformat()}, but it is not pending (pending: {pending})"]
    if dt.datetime.fromisoformat(got) != due:
        return [f"timers.{name}: expected due at {due.isoformat()}, got {got}"]
    return []


def _effect_failures(
    index: int, effect: EffectExpectation, scenario: Scenario, actions: list[ActionRecord]
) -> list[str]:
    at = scenario.time_of(effect.at) if effect.at is not None else None
    same_type = [a for a in actions if a.type == effect.type]
    matching = [a for a in same_type if _contains(a.params, effect.params) and (at is None or a.at == at)]
    wanted = _describe_effect(effect, at)
    if effect.count is not None and len(matching) != effect.count:
        return [f"effects[{index}]: expected {effect.count} x {wanted}, got {len(matching)}{_seen(same_type)}"]
    if effect.count is None and not matching:
        return [f"effects[{index}]: no {wanted}{_seen(same_type)}"]
    return []


def _contains(actual: Any, expected: Any) -> bool:
    """Partial match: what `expected` states must be in `actual`; numbers compare by value."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _contains(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(map(_contains, actual, expected))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return float(actual) == float(expected)
    return bool(actual == expected)


def _describe_effect(effect: EffectExpectation, at: dt.datetime | None) -> str:
    params = f" with {json.dumps(effect.params, ensure_ascii=False, default=str)}" if effect.params else ""
    when = f" at {at.isoformat()}" if at is not None else ""
    return f"'{effect.type}'{params}{when}"


def _seen(same_type: list[ActionRecord]) -> str:
    """What did happen, so that a failing test shows the actual amount, recipient or time."""
    if not same_type:
        return " (none of that type happened)"
    shown = [
        f"{json.dumps({k: v for k, v in a.params.items() if k != 'message'}, ensure_ascii=False, default=str)}"
        f" at {a.at.isoformat()}"
        for a in same_type[:3]
    ]
    more = f" and {len(same_type) - 3} more" if len(same_type) > 3 else ""
    return f"; happened: {'; '.join(shown)}{more}"
