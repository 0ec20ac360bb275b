"""Run scenarios in virtual time on the case engine: the driver behind `simulate`, policy tests and
what-if comparisons. It follows the same rules as the live workflow: timers that fall due before an
event fire first; an action that reports back is answered at once with success unless the scenario
lists the answer itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from policy_engine.case import (
    CaseState,
    EventIn,
    OpenCase,
    OpenRefused,
    RunAction,
    StepResult,
    TimelineEntry,
    TimerDue,
)
from policy_engine.engine import open_case, report_event, step
from policy_engine.resolved import ResolvedPolicy
from policy_engine.scenario import Scenario
from policy_engine.selection import PolicySet, SelectionError


class ActionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: dt.datetime
    type: str
    params: dict[str, Any]
    key: str


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
    # Where the policy failed on the way (the message of each `error` timeline entry): a policy test
    # fails on any, so a decision that errs is never passed over.
    policy_errors: list[str] = Field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The outcome an operator compares across policy versions."""
        return {
            "final_state": self.final_state,
            "closed": self.closed,
            "actions": [a.type for a in self.actions],
            "sla": {k: v.get("status") for k, v in self.sla.items()},
            "decisions": self.decisions,
            "escalation_level": self.escalation_level,
            "rejected_events": self.rejected_events,
            "error": self.error,
            "policy_errors": self.policy_errors,
        }


class _Driver:
    def __init__(self, resolved: ResolvedPolicy, scenario: Scenario) -> None:
        self.resolved = resolved
        self.scenario = scenario
        self.listed = {e.name for e in scenario.events}
        self.actions: list[ActionRecord] = []
        self.state: CaseState | None = None

    def absorb(self, result: StepResult, at: dt.datetime) -> None:
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
            assert self.state is not None
            self.absorb(step(self.resolved, self.state, report), at)

    def fire_timers(self, until: dt.datetime, *, inclusive: bool) -> None:
        while self.state is not None and not self.state.closed:
            nxt = self.state.next_timer()
            if nxt is None:
                return
            name, due = nxt
            if due > until or (due == until and not inclusive):
                return
            self.absorb(step(self.resolved, self.state, TimerDue(name=name, at=due)), due)

    def run(self) -> CaseState:
        sc = self.scenario
        self.absorb(
            open_case(
                self.resolved,
                OpenCase(case_id=sc.case_id, case_type=sc.case_type, data=sc.data, at=sc.opened_at),
            ),
            sc.opened_at,
        )
        timed = sc.timed_events()
        for at, event in timed:
            # Timers due at or before the event's time fire first.
            self.fire_timers(at, inclusive=True)
            assert self.state is not None
            if self.state.closed:
                break
            inp = EventIn(name=event.name, actor=event.actor, data=event.data, at=at, key=event.key)
            self.absorb(step(self.resolved, self.state, inp), at)
        self.fire_timers(sc.end_time(timed), inclusive=True)
        assert self.state is not None
        return self.state


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
    visited: list[str] = []
    for entry in state.timeline:
        if entry.kind == "transition" and entry.detail.get("to") and entry.detail["to"] not in visited:
            visited.append(entry.detail["to"])
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
        states_visited=visited,
        decisions={name: d.rule for name, d in state.decisions.items()},
        policy_errors=[str(e.detail.get("message", "")) for e in state.timeline if e.kind == "error"],
    )


def _failed(scenario: Scenario, error: str) -> SimulationResult:
    result = SimulationResult(file=scenario.file, case_id=scenario.case_id, case_type=scenario.case_type, error=error)
    if scenario.expect is not None:
        result.failures = [f"the case could not run: {error}"]
        result.passed = False
    return result


def check_expectations(scenario: Scenario, result: SimulationResult) -> list[str]:
    exp = scenario.expect
    if exp is None:
        return []
    failures: list[str] = []
    types = [a.type for a in result.actions]
    if exp.state is not None and result.final_state != exp.state:
        failures.append(f"state: expected {exp.state}, got {result.final_state}")
    if exp.closed is not None and result.closed != exp.closed:
        failures.append(f"closed: expected {exp.closed}, got {result.closed}")
    for action in exp.actions_include:
        if action not in types:
            failures.append(f"actions_include: no '{action}' action happened")
    for action in exp.actions_exclude:
        if action in types:
            failures.append(f"actions_exclude: a '{action}' action happened")
    if exp.rejected_events is not None and result.rejected_events != exp.rejected_events:
        failures.append(f"rejected_events: expected {exp.rejected_events}, got {result.rejected_events}")
    for clock, status in exp.sla.items():
        got = result.sla.get(clock, {}).get("status")
        if got != status:
            failures.append(f"sla.{clock}: expected {status}, got {got}")
    for table, rule in exp.decisions.items():
        if result.decisions.get(table) != rule:
            failures.append(f"decisions.{table}: expected row {rule}, got {result.decisions.get(table)}")
    for counter, value in exp.counters.items():
        if result.counters.get(counter) != value:
            failures.append(f"counters.{counter}: expected {value}, got {result.counters.get(counter)}")
    if exp.escalation_level is not None and result.escalation_level != exp.escalation_level:
        failures.append(f"escalation_level: expected {exp.escalation_level}, got {result.escalation_level}")
    for name, value in exp.records.items():
        if result.records.get(name) != value:
            failures.append(f"records.{name}: expected {value}, got {result.records.get(name)}")
    for state in exp.states_visited:
        if state not in result.states_visited:
            failures.append(f"states_visited: never entered '{state}'")
    return failures
