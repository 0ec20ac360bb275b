"""A rule that errs while a case runs is a loud failure, never a quiet fall-through to the next row.

The validator refuses what it can see (a parameter written `1,000` compared with a number); what it
cannot (a field the case does not have, compared with a number) fails at run time: the decision is
not taken, no other row or branch is taken instead, and the timeline, the step's result, the
simulator and policy tests all say so.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from policy_engine.engine import Actor, CaseState, EventIn, OpenCase, OpenRefused, TimerDue, open_case, step
from policy_engine.language import ResolvedPolicy, evaluate, evaluate_rows, load_policy_set
from policy_engine.testing import parse_scenario_text, run_on_policy
from tests.conftest import ROOT

BASE = ROOT / "tests" / "broken_policies" / "_base"
AT = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))

# `amount` is optional: a case without one makes `case.amount >= params.big_amount` compare nothing
# with a number, which no validator can see coming.
POLICY = """
policies:
  - policy: ticket
    case_type: ticket
    calendar: test-cal
    locales: [zh-CN, en]
    data:
      amount: {type: number, required: false}
    parameters:
      big_amount: 100
    decisions:
      priority:
        rules:
          - id: big
            if: case.amount >= params.big_amount
            then: {level: high}
          - id: normal
            then: {level: low}
    events:
      take: {roles: [agent]}
      close: {roles: [agent]}
    open:
      goto: new
    states:
      new:
        on:
          take:
            decide: priority
            actions: [{notify: {to: [customer], template: nudge}}]
            goto: working
          close: closed
        timers:
          check:
            after: 1h
            goto:
              - if: case.amount >= params.big_amount
                goto: closed
              - goto: working
      working:
        on:
          close: closed
      closed: {terminal: true}
"""


def _policy(tmp_path: Path, text: str = POLICY) -> ResolvedPolicy:
    path = tmp_path / "ticket.yaml"
    path.write_text(text, encoding="utf-8")
    return load_policy_set([BASE, path]).policies["ticket"]


def _opened(resolved: ResolvedPolicy, data: dict[str, object]) -> CaseState:
    return open_case(resolved, OpenCase(case_id="T-1", case_type="ticket", data=data, at=AT)).state


def _take(at: dt.datetime = AT) -> EventIn:
    return EventIn(name="take", actor=Actor(role="agent", id="A-1"), at=at, key="take-1")


def test_a_row_that_errs_stops_the_table(tmp_path: Path) -> None:
    table = _policy(tmp_path).policy.decisions["priority"]
    names = {"case": {"amount": None}, "params": {"big_amount": 100}}
    outcome = evaluate(table, names)
    assert outcome == evaluate_rows(table, names)
    assert outcome.rule == "big"  # the row that erred, not the catch-all below it
    assert outcome.outputs == {}
    assert outcome.error is not None and "cannot compare nothing" in outcome.error
    assert "NoneType" not in outcome.error  # said in the operator's words


def test_an_event_whose_decision_errs_is_not_applied_and_says_why(tmp_path: Path) -> None:
    resolved = _policy(tmp_path)
    opened = _opened(resolved, {})
    result = step(resolved, opened, _take())
    assert result.failed is not None and "decision 'priority' failed at row 'big'" in result.failed
    # Not the next row, not half the handler: the case is as it was, with the failure on record.
    assert result.state.state == "new"
    assert "priority" not in result.state.decisions
    assert result.commands == []
    assert result.state.event_keys == []  # not applied: the same event may be sent again
    assert result.state.timeline[:-1] == opened.timeline
    entry = result.state.timeline[-1]
    assert (entry.kind, entry.name) == ("error", "priority")
    assert entry.detail["rule"] == "big" and entry.detail["event"] == "take"
    assert "the event was not applied" in entry.detail["message"]
    # The same event on a case that has an amount goes ahead.
    fine = step(resolved, _opened(resolved, {"amount": 5}), _take())
    assert (fine.failed, fine.state.state, fine.state.decisions["priority"].rule) == (None, "working", "normal")


def test_a_goto_condition_that_errs_in_a_timer_does_not_take_the_next_branch(tmp_path: Path) -> None:
    resolved = _policy(tmp_path)
    opened = _opened(resolved, {})
    due = opened.timers["state:new:check"]
    result = step(resolved, opened, TimerDue(name="state:new:check", at=due))
    assert result.failed is not None and "a goto condition failed" in result.failed
    assert result.state.state == "new"  # not `working`, the branch after the one that erred
    assert "state:new:check" not in result.state.timers  # the timer has fired: it cannot fire again
    entry = result.state.timeline[-1]
    assert entry.kind == "error" and entry.detail["condition"] == "case.amount >= params.big_amount"


def test_an_opening_whose_decision_errs_is_refused(tmp_path: Path) -> None:
    resolved = _policy(
        tmp_path, POLICY.replace("    open:\n      goto: new", "    open:\n      decide: priority\n      goto: new")
    )
    with pytest.raises(OpenRefused, match="decision 'priority' failed at row 'big'"):
        _opened(resolved, {})
    assert _opened(resolved, {"amount": 500}).decisions["priority"].rule == "big"


def test_a_policy_test_fails_when_the_policy_fails_on_the_way(tmp_path: Path) -> None:
    resolved = _policy(tmp_path)
    scenario = parse_scenario_text(
        """
case_type: ticket
case_id: T-2
opened_at: 2026-11-02T10:00:00+08:00
events:
  - {at: +10m, name: take, actor: {role: agent, id: A-1}}
until: +30m
expect:
  state: new
"""
    )
    result = run_on_policy(resolved, scenario)
    assert result.passed is False
    assert result.failures and result.failures[0].startswith("the policy failed: decision 'priority' failed")
    assert result.policy_errors and result.summary()["policy_errors"] == result.policy_errors


def test_cases_begun_before_the_rule_pass_over_the_error_as_they_did(tmp_path: Path) -> None:
    """A case whose history predates PATCH_STOP_ON_POLICY_ERROR replays under the earlier semantics:
    the erring row is passed over (its error kept) and the next one taken; the goto condition that
    errs counts as false. tests/histories/release-1-* holds such a case, recorded by that release."""
    resolved = _policy(tmp_path)
    opened = _opened(resolved, {})
    taken = step(resolved, opened, _take(), stop_on_policy_error=False)
    assert (taken.failed, taken.state.state, taken.state.decisions["priority"].rule) == (None, "working", "normal")
    decision = next(e for e in taken.state.timeline if e.kind == "decision")
    assert decision.detail["errors"] and decision.detail["errors"][0].startswith("big: ")
    due = opened.timers["state:new:check"]
    fired = step(resolved, opened, TimerDue(name="state:new:check", at=due), stop_on_policy_error=False)
    assert (fired.failed, fired.state.state) == (None, "working")
