"""Typed timeline entries and timer names read every entry and name the engine writes, and give them back
unchanged: the wire JSON of a timeline entry travels in Temporal payloads and must never change.

Checked over the timelines of every policy test and of every recorded history (replayed with today's
code), and over each kind and variant of entry the engine can write.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, ClassVar, get_args

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from policy_engine.engine import (
    OPENING,
    Actor,
    CaseState,
    Command,
    OpenCase,
    OpenRefused,
    PolicyFailed,
    StartTimer,
    StepResult,
    TimelineEntry,
    TimelineRecorder,
    TimerDue,
    TimerName,
    TransitionEntry,
    Via,
    fire_due,
    on_enter_via,
    open_case,
    sla_via,
    typed_entry,
)
from policy_engine.engine.case import TimelineKind
from policy_engine.language import PolicySet, SelectionError
from policy_engine.testing import load_scenario, run_scenario, scenario_files
from tests.conftest import ROOT, SCENARIOS
from workflows.case_workflow import AfterSalesCase

HISTORIES = sorted((ROOT / "tests" / "histories").glob("*.json"))
AT = dt.datetime(2027, 3, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def assert_round_trips(entry: TimelineEntry) -> None:
    """The typed entry gives back the same wire JSON, key order included, from the model or its JSON."""
    assert typed_entry(entry).to_wire().model_dump_json() == entry.model_dump_json()
    as_json = entry.model_dump(mode="json")
    again = typed_entry(as_json).to_wire().model_dump(mode="json")
    assert json.dumps(again, ensure_ascii=False) == json.dumps(as_json, ensure_ascii=False)


def test_every_policy_test_timeline_round_trips(policy_set: PolicySet) -> None:
    count = 0
    for path in scenario_files([SCENARIOS]):
        for entry in run_scenario(policy_set, load_scenario(path)).timeline:
            assert_round_trips(TimelineEntry.model_validate(entry))
            count += 1
    assert count > 1000


class _Capture(Interceptor):
    """Keeps each replayed workflow instance, to read its case afterwards."""

    instances: ClassVar[list[AfterSalesCase]] = []

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return _CaptureInbound


class _CaptureInbound(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        _Capture.instances.append(workflow.instance())
        return await super().execute_workflow(input)


async def test_every_recorded_history_timeline_round_trips() -> None:
    replayer = Replayer(
        workflows=[AfterSalesCase],
        workflow_runner=UnsandboxedWorkflowRunner(),
        interceptors=[_Capture()],
        data_converter=pydantic_data_converter,
    )
    _Capture.instances.clear()
    for path in HISTORIES:
        history = WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
        result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
        assert result.replay_failure is None
    cases = [instance.state for instance in _Capture.instances if instance.state is not None]
    assert len(cases) == len(HISTORIES)
    entries = [entry for case in cases for entry in case.timeline]
    assert len(entries) > 1000
    for entry in entries:
        assert_round_trips(entry)


def test_every_kind_and_variant_the_engine_writes_round_trips() -> None:
    entries: list[TimelineEntry] = []
    audit = TimelineRecorder(entries, AT, "0123456789ab")
    actor = Actor(role="customer", id="C-1")
    audit.opened("return", "return-default", "f" * 64)
    audit.event("ship", actor, {"tracking": "SF1"}, None)
    audit.event("ship", actor, {}, "key-1")
    audit.refused("ship", "not now", actor, {"x": 1})
    audit.timer_fired("remind", "waiting")
    audit.timer_not_set("remind", "window 'w' has no start: timer not set")
    audit.transition(None, "waiting", OPENING)
    audit.transition("waiting", "done", sla_via("resolve", "breach"))
    audit.transition("waiting", "done", on_enter_via("waiting"))
    audit.moves_stopped("stopped after 32 moves", "waiting")
    audit.condition_failed("`x > 1`: cannot compare", "x > 1")
    audit.decision("priority", "p1", {"level": "P1"}, {"case.amount": 5}, [])
    audit.decision("priority", "p1", {"level": None}, {}, ["p0: boom"])
    audit.window_failed("return_window", "expected a date-time")
    audit.action_ran("refund", "R-1/1/refund", {"amount": 10})
    audit.record_kept("record", {"name": "n", "value": [1, 2]})
    audit.action_failed("refund", "`case.amount * 2`: undefined")
    audit.clock_running("resolve", AT)
    audit.clock_paused("resolve", 3600)
    audit.clock_paused("resolve", None)
    audit.clock_warning("resolve", AT)
    audit.clock_warning("resolve", None)
    audit.clock_ended("resolve", "met")
    audit.ladder_started("overdue", "sla:resolve")
    audit.ladder_climbed("overdue", 2)
    audit.ladder_stopped("overdue")
    audit.counted("reopens", 2)
    audit.variable_set("attempts", None)
    audit.variable_failed("attempts", "undefined")
    audit.closed("done")
    failed_row = PolicyFailed("row failed", handling="ship", decision="priority", rule="p1", inputs={"a": None})
    failed_goto = PolicyFailed("goto failed", handling="sla resolve breach", condition="case.x > 1")
    audit.event_not_applied(failed_row, "ship", actor, {"x": 1})
    audit.event_not_applied(failed_goto, "ship", actor, {})
    audit.handler_stopped(failed_row, "state:waiting:remind")
    audit.handler_stopped(failed_goto, "sla:resolve:breach")
    assert {entry.kind for entry in entries} == set(get_args(TimelineKind))
    for entry in entries:
        assert_round_trips(entry)


def test_keys_a_kind_does_not_declare_are_kept() -> None:
    entry = TimelineEntry(
        at=AT, kind="transition", name="", detail={"from": "a", "to": "b", "via": "go", "note": {"x": [1]}}
    )
    typed = typed_entry(entry)
    assert isinstance(typed, TransitionEntry) and typed.detail.model_extra == {"note": {"x": [1]}}
    assert_round_trips(entry)


@pytest.mark.parametrize(
    "via",
    [
        Via("open"),
        Via("handler", "merchant_approve"),
        Via("sla", "resolve", "warning"),
        Via("sla", "resolve", "breach"),
        Via("escalation", "overdue"),
        Via("on_enter", "awaiting_merchant"),
    ],
)
def test_via_reads_back_what_it_writes(via: Via) -> None:
    assert Via.parse(str(via)) == via


def test_every_timer_name_the_engine_starts_reads_back(policy_set: PolicySet) -> None:
    """Timers of every policy test's case, left to run for a year without events."""
    names: set[str] = set()

    def absorb(result: StepResult, _timer: TimerDue) -> CaseState:
        names.update(_started_timers(result.commands))
        return result.state

    for path in scenario_files([SCENARIOS]):
        scenario = load_scenario(path)
        try:
            resolved = policy_set.select(scenario.case_type, scenario.data, scenario.opened_at)
            opened = open_case(
                resolved, OpenCase(case_id="T", case_type=scenario.case_type, data=scenario.data, at=scenario.opened_at)
            )
        except (SelectionError, OpenRefused):
            continue
        names.update(_started_timers(opened.commands))
        fire_due(resolved, opened.state, scenario.opened_at + dt.timedelta(days=365), absorb=absorb)
    assert {TimerName.parse(name).kind for name in names} == {"state", "sla", "ladder"}
    for name in names:
        assert str(TimerName.parse(name)) == name
    assert TimerName.parse("ladder:overdue:2").level == 2
    with pytest.raises(ValueError):
        TimerName.parse("state:only")


def _started_timers(commands: list[Command]) -> list[str]:
    return [command.name for command in commands if isinstance(command, StartTimer)]
