"""What the audit trail records when a policy cannot do what it says, and timers at a window's end.

A compliance reviewer reads these entries (and `aftersales case timeline` shows them); their shape
is part of the wire format, so each is checked whole. The policy here is small and made to fail at
run time in ways the validator cannot see: an optional number that the case does not have.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest

from policy_engine.engine import (
    CaseState,
    EventIn,
    OpenCase,
    OpenRefused,
    TimerDue,
    failure_messages,
    open_case,
    states_entered,
    step,
)
from policy_engine.engine.actions import ACTION_IMPLEMENTATIONS, Keep, implements
from policy_engine.engine.context import StepContext
from policy_engine.engine.handlers import MAX_MOVES_PER_STEP
from policy_engine.engine.windows import OpenWindows
from policy_engine.language import ResolvedPolicy, load_policy_set
from tests.conftest import ROOT

BASE = ROOT / "tests" / "broken_policies" / "_base"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
OPENED = dt.datetime(2026, 11, 2, 10, tzinfo=SHANGHAI)  # a Monday

POLICY = """
policies:
  - policy: ticket
    title: A ticket whose rules read a number the case may not have
    case_type: ticket
    calendar: test-cal
    locales: [en]
    data:
      customer: {type: object, fields: {id: string}}
      score: {type: number, required: false}
      delivered_at: {type: datetime, required: false}
      stamp: {type: string, required: false}
    windows:
      grace: {from: case.delivered_at, length: 3 calendar days}
      stamped: {from: case.stamp, length: 1 calendar days}
    variables:
      level: {type: number, default: 0}
    events:
      take: {roles: [agent]}
      rate: {roles: [agent]}
      peek: {roles: [agent]}
      loop: {roles: [agent]}
    open: {goto: new}
    states:
      new:
        on:
          take:
            goto:
              - if: case.score > 1
                goto: done
              - goto: working
          rate:
            set: {level: case.score + 1}
            actions: [{record: {name: doubled, value: case.score * 2}}]
          peek:
            goto:
              - if: windows.stamped
                goto: done
              - goto: working
          loop: ping
        timers:
          grace_end:
            at: grace
            goto: done
          check:
            after: 2h
            goto:
              - if: case.score > 1
                goto: done
              - goto: working
      working: {on: {take: done}}
      ping:
        on_enter: {goto: pong}
      pong:
        on_enter: {goto: ping}
      done: {terminal: true}
"""


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> ResolvedPolicy:
    folder = tmp_path_factory.mktemp("policies")
    shutil.copytree(BASE, folder, dirs_exist_ok=True)
    (folder / "ticket.yaml").write_text(POLICY, encoding="utf-8")
    return load_policy_set([Path(folder)]).select("ticket", _data(), OPENED)


def _data(**extra: Any) -> dict[str, Any]:
    return {"customer": {"id": "C-1"}, **extra}


def _open(resolved: ResolvedPolicy, **extra: Any) -> CaseState:
    return open_case(resolved, OpenCase(case_id="T-1", case_type="ticket", data=_data(**extra), at=OPENED)).state


def _send(resolved: ResolvedPolicy, state: CaseState, name: str, *, legacy: bool = False) -> CaseState:
    event = EventIn(name=name, actor={"role": "agent", "id": "A-1"}, at=OPENED + dt.timedelta(minutes=5))
    return step(resolved, state, event, stop_on_policy_error=not legacy).state


def _last(state: CaseState) -> tuple[str, str, dict[str, Any]]:
    entry = state.timeline[-1]
    return entry.kind, entry.name, entry.detail


def test_a_timer_falls_due_at_the_end_of_its_window(resolved: ResolvedPolicy) -> None:
    # 3 calendar days from 2026-11-01 15:00 (+08:00): Nov 2, 3 and 4, ending at local midnight.
    state = _open(resolved, delivered_at="2026-11-01T15:00:00+08:00")
    assert state.timers["state:new:grace_end"] == dt.datetime(2026, 11, 5, tzinfo=SHANGHAI)


def test_a_window_without_a_start_sets_no_timer_and_says_so(resolved: ResolvedPolicy) -> None:
    state = _open(resolved)
    assert "state:new:grace_end" not in state.timers
    [entry] = [e for e in state.timeline if e.kind == "timer" and e.name == "grace_end"]
    assert (entry.kind, entry.name, entry.detail) == (
        "timer",
        "grace_end",
        {"error": "window 'grace' has no start: timer not set"},
    )
    assert failure_messages(state.timeline) == ["timer 'grace_end' failed: window 'grace' has no start: timer not set"]


def test_a_window_that_cannot_be_computed_is_closed_and_recorded(resolved: ResolvedPolicy) -> None:
    state = _send(resolved, _open(resolved, stamp="not a time", delivered_at="2026-11-01T15:00:00+08:00"), "peek")
    [entry] = [e for e in state.timeline if e.kind == "decision" and e.name == "stamped"]
    assert entry.detail == {"window": "stamped", "error": "the window's start is not an ISO 8601 date-time"}
    assert state.state == "working"  # closed: the branch that reads it was not taken


NOTHING = "nothing (a value the case does not have)"
NOTHING_GT = "`case.score > 1`: cannot compare nothing (a value the case does not have) with a number ('>')"


def test_a_condition_that_errs_in_an_event_leaves_the_case_as_it_was(resolved: ResolvedPolicy) -> None:
    opened = _open(resolved, delivered_at="2026-11-01T15:00:00+08:00")
    event = EventIn(name="take", actor={"role": "agent", "id": "A-1"}, at=OPENED + dt.timedelta(minutes=5))
    result = step(resolved, opened, event)
    assert result.failed == f"a goto condition failed while handling 'take': {NOTHING_GT}"
    assert result.state.state == "new" and result.commands == []
    kind, name, detail = _last(result.state)
    assert (kind, name, detail["condition"], detail["while"]) == ("error", "goto", "case.score > 1", "take")
    assert detail["message"] == f"{result.failed}; the event was not applied"


def test_before_stop_on_policy_error_a_condition_that_errs_was_passed_over(resolved: ResolvedPolicy) -> None:
    state = _send(resolved, _open(resolved, delivered_at="2026-11-01T15:00:00+08:00"), "take", legacy=True)
    [entry] = [e for e in state.timeline if e.kind == "transition" and "error" in e.detail]
    assert (entry.name, entry.detail) == (
        "",
        {
            "error": NOTHING_GT,
            "condition": "case.score > 1",
        },
    )
    assert state.state == "working"
    assert states_entered(state.timeline) == ["new", "working"]  # the failed condition entered nothing
    assert failure_messages(state.timeline) == [f"transition failed: {NOTHING_GT}"]


def test_a_variable_and_an_action_that_err_are_recorded_and_not_kept(resolved: ResolvedPolicy) -> None:
    state = _send(resolved, _open(resolved, delivered_at="2026-11-01T15:00:00+08:00"), "rate")
    failed = [(e.kind, e.name, e.detail) for e in state.timeline if "error" in e.detail]
    assert failed == [
        ("variable", "level", {"error": f"`case.score + 1`: cannot apply '+' to {NOTHING} and a number"}),
        ("action", "record", {"error": f"`case.score * 2`: cannot apply '*' to {NOTHING} and a number", "ran": False}),
    ]
    assert state.vars["level"] == 0 and "doubled" not in state.records


def test_a_timer_handler_that_errs_stops_and_names_its_timer(resolved: ResolvedPolicy) -> None:
    state = _open(resolved, delivered_at="2026-11-01T15:00:00+08:00")
    due = state.timers["state:new:check"]
    after = step(resolved, state, TimerDue(name="state:new:check", at=due)).state
    kind, name, detail = _last(after)
    assert (kind, name) == ("error", "goto")
    assert detail["timer"] == "state:new:check"
    assert detail["condition"] == "case.score > 1"
    assert detail["message"].endswith("; the rest of the handler did not run")
    assert after.state == "new"


def test_on_enter_handlers_that_loop_are_stopped_and_recorded(resolved: ResolvedPolicy) -> None:
    state = _send(resolved, _open(resolved, delivered_at="2026-11-01T15:00:00+08:00"), "loop")
    [(kind, name, detail)] = [(e.kind, e.name, e.detail) for e in state.timeline if "error" in e.detail]
    assert (kind, name) == ("transition", "")
    assert detail == {
        "error": f"stopped after {MAX_MOVES_PER_STEP} moves in one step: the policy's on_enter handlers loop",
        "to": "ping" if MAX_MOVES_PER_STEP % 2 == 0 else "pong",
    }
    assert state.state in ("ping", "pong") and not state.closed


def test_a_refused_opening_lists_every_reason_on_its_own_line(resolved: ResolvedPolicy) -> None:
    refused = OpenRefused("the case data does not fit", ["score: should be number", "stamp: should be text"])
    assert str(refused) == "the case data does not fit\n  - score: should be number\n  - stamp: should be text"


def test_an_action_implementation_is_registered_under_its_name() -> None:
    def record_nothing(context: Any, params: Any, names: Any) -> Keep:
        raise AssertionError("not run")

    try:
        assert implements("test_only_action")(record_nothing) is record_nothing
        assert ACTION_IMPLEMENTATIONS["test_only_action"] is record_nothing
    finally:
        ACTION_IMPLEMENTATIONS.pop("test_only_action", None)


def test_windows_read_as_a_whole_list_every_window_of_the_policy(resolved: ResolvedPolicy) -> None:
    # `windows` is a mapping in expressions and templates: iterating it names every window.
    state = _open(resolved, delivered_at="2026-11-01T15:00:00+08:00")
    windows = OpenWindows(StepContext(resolved, state, OPENED + dt.timedelta(days=1)))
    assert list(windows) == ["grace", "stamped"] and len(windows) == 2
    assert dict(windows.items()) == {"grace": True, "stamped": False}
