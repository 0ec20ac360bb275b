"""Values that take the engine's arithmetic out of range refuse the input, naming fields, never values.

An opening is refused (OpenRefused, not OpenFailed: the data is at fault, so the same case id may be
opened again with corrected data); an event is refused and changes nothing but the refusal count and
the timeline; a timer records an error and is spent. Nothing raises out of the engine.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from pathlib import Path
from typing import Any

import pytest

from policy_engine.engine import (
    Actor,
    CaseState,
    EventIn,
    OpenCase,
    OpenFailed,
    OpenRefused,
    TimerDue,
    check_event,
    failure_messages,
    open_case,
    step,
)
from policy_engine.engine.bounds import MAX_DEPTH, MAX_NUMBER, data_problem, field_path
from policy_engine.language import ResolvedPolicy, load_policy_set
from policy_engine.testing import load_scenario, scenario_files
from tests.conftest import POLICIES, ROOT, SCENARIOS

BASE = ROOT / "tests" / "broken_policies" / "_base"
AT = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
DEFAULT_SET = load_policy_set([POLICIES])
OPENINGS = {s.case_type: s for s in reversed([load_scenario(p) for p in scenario_files([SCENARIOS])])}

# A warranty window from the case (its length may come from the case too), a payment computed from an
# event, a variable, and a timer that reads the window.
CLAIM = """
policies:
  - policy: claim
    case_type: claim
    calendar: test-cal
    locales: [zh-CN, en]
    data:
      signed_at: datetime
      months: {type: integer, required: false}
      start: {type: any, required: false}
      length: {type: any, required: false}
    windows:
      warranty:
        from: case.signed_at
        months: "case.months if case.months is not none else 12"
      loose:
        from: case.start
        days: "case.length if case.length is not none else 3"
    events:
      pay: {roles: [agent], data: {amount: number, times: {type: number, default: 1}}}
      note: {roles: [agent], data: {value: number}}
      check: {roles: [agent]}
      refund_completed: {roles: [system]}
      peek: {roles: [agent]}
      wait: {roles: [agent]}
    variables:
      noted: {type: number, required: false}
    open:
      goto: new
    states:
      new:
        timers:
          review:
            after: 2h
            goto:
              - if: windows.warranty
                goto: covered
              - goto: expired
        on:
          pay:
            actions: [{refund: {amount: "event.amount * event.times"}}]
          note:
            set: {noted: "event.value * event.value"}
          refund_completed: {}
          peek:
            set: {noted: "1 if windows.loose else 0"}
          wait: far
          check:
            goto:
              - if: windows.warranty
                goto: covered
              - goto: expired
      far:
        timers:
          never:
            after: 999999999999d
            goto: new
      covered: {terminal: true}
      expired: {terminal: true}
"""


@pytest.fixture(scope="module")
def claim(tmp_path_factory: pytest.TempPathFactory) -> ResolvedPolicy:
    path: Path = tmp_path_factory.mktemp("claim") / "claim.yaml"
    path.write_text(CLAIM, encoding="utf-8")
    return load_policy_set([BASE, path]).policies["claim"]


def _open(resolved: ResolvedPolicy, data: dict[str, Any]) -> CaseState:
    return open_case(resolved, OpenCase(case_id="C-1", case_type="claim", data=data, at=AT)).state


def _send(name: str, **data: Any) -> EventIn:
    return EventIn(name=name, actor=Actor(role="agent", id="A-1"), data=data, at=AT + dt.timedelta(minutes=5))


def _refused(resolved: ResolvedPolicy, case: CaseState, event: EventIn) -> str:
    """The reason the event is refused, the same from `check_event` and `step`; the case is unchanged
    but for the refusal count and the timeline's refused entry."""
    result = step(resolved, case, event)
    assert result.refused is not None
    assert check_event(resolved, case, event) == result.refused
    assert result.commands == []
    assert result.state.refused == case.refused + 1
    assert result.state.model_dump(exclude={"refused", "timeline"}) == case.model_dump(exclude={"refused", "timeline"})
    assert result.state.timeline[:-1] == case.timeline
    assert result.state.timeline[-1].kind == "refused"
    assert result.state.timeline[-1].detail["reason"] == result.refused
    return result.refused


def _opening_refusal(resolved: ResolvedPolicy, case_type: str, data: dict[str, Any], at: dt.datetime) -> str:
    with pytest.raises(OpenRefused) as refused:
        open_case(resolved, OpenCase(case_id="X-1", case_type=case_type, data=data, at=at))
    assert not isinstance(refused.value, OpenFailed)  # the data is at fault, not the policy
    return str(refused.value)


def _default_opening(case_type: str, path: tuple[str, ...], value: Any) -> tuple[ResolvedPolicy, dict[str, Any]]:
    scenario = OPENINGS[case_type]
    data = copy.deepcopy(scenario.data)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    # The policy the untouched case selects: selection is the language's, the engine is tested here.
    return DEFAULT_SET.select(case_type, scenario.data, scenario.opened_at), data


# -- the two openings, on the default policies ---------------------------------------------


def test_a_warranty_of_thirty_billion_months_refuses_the_opening() -> None:
    resolved, data = _default_opening("repair", ("item", "warranty_months"), 30_000_000_000)
    assert _opening_refusal(resolved, "repair", data, OPENINGS["repair"].opened_at) == (
        "the case data is out of range\n"
        "  - `case.order.delivered_at`, `case.item.warranty_months`, `case.item.category` put window"
        " 'warranty_in_months' out of range"
    )


def test_a_delivery_at_the_end_of_year_9999_refuses_the_opening() -> None:
    resolved, data = _default_opening("repair", ("order", "delivered_at"), "9999-12-31T20:00Z")
    reason = _opening_refusal(resolved, "repair", data, OPENINGS["repair"].opened_at)
    assert reason.startswith("the case data is out of range\n  - `case.order.delivered_at`")
    assert "9999" not in reason


def test_the_same_case_opens_once_its_data_is_corrected() -> None:
    resolved, data = _default_opening("repair", ("item", "warranty_months"), 30_000_000_000)
    opened_at = OPENINGS["repair"].opened_at
    _opening_refusal(resolved, "repair", data, opened_at)
    data["item"]["warranty_months"] = 24
    state = open_case(resolved, OpenCase(case_id="X-1", case_type="repair", data=data, at=opened_at)).state
    assert not state.closed and state.state


# -- the door: numbers and nesting a caller sends -------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (10**30, f"must be between -{MAX_NUMBER} and {MAX_NUMBER}"),
        (-(10**30), f"must be between -{MAX_NUMBER} and {MAX_NUMBER}"),
        (float(MAX_NUMBER + 2), f"must be between -{MAX_NUMBER} and {MAX_NUMBER}"),
        (math.nan, "must be a finite number"),
        (math.inf, "must be a finite number"),
        (-math.inf, "must be a finite number"),
    ],
)
def test_a_number_out_of_range_is_refused_at_the_door_by_its_field(value: float, problem: str) -> None:
    resolved, data = _default_opening("return", ("order", "amount"), value)
    reason = _opening_refusal(resolved, "return", data, OPENINGS["return"].opened_at)
    assert reason == f"the case data does not fit the policy\n  - `order.amount` {problem}"


def test_the_largest_numbers_pass_the_door() -> None:
    assert data_problem({"a": MAX_NUMBER, "b": -MAX_NUMBER, "c": 1e15, "d": [True, None, "x"]}) is None
    assert data_problem({"a": MAX_NUMBER + 1}) == f"`a` must be between -{MAX_NUMBER} and {MAX_NUMBER}"


def test_nesting_is_refused_beyond_the_limit_by_its_top_field() -> None:
    def nested(depth: int) -> dict[str, Any]:
        value: dict[str, Any] = {}
        for _ in range(depth):
            value = {"a": value}
        return value

    assert data_problem({"extra": nested(MAX_DEPTH - 1)}) is None
    assert data_problem({"extra": nested(MAX_DEPTH)}) == f"`extra` is nested deeper than {MAX_DEPTH} levels"
    # Far beyond Python's recursion limit, still a reason and no RecursionError.
    assert data_problem({"extra": nested(100_000)}) == f"`extra` is nested deeper than {MAX_DEPTH} levels"
    assert data_problem(nested(MAX_DEPTH), ("vars", "x")) is None
    assert data_problem(nested(MAX_DEPTH + 1), ("vars", "x")) == f"`vars.x` is nested deeper than {MAX_DEPTH} levels"


def test_the_documented_limits() -> None:
    """docs/policy-language.md (Events) states them: 32 levels, 9007199254740991."""
    value: Any = 1
    for _ in range(32):
        value = [value]
    assert data_problem(value) is None
    assert data_problem([value]) == "`[0]` is nested deeper than 32 levels"
    assert data_problem({"n": 9007199254740991}) is None
    assert data_problem({"n": -9007199254740992}) == "`n` must be between -9007199254740991 and 9007199254740991"
    assert field_path(["a" * 64]) == "a" * 64
    assert field_path(["a" * 65, "b"]) == "?.b"


def test_keys_that_are_not_plain_names_are_not_repeated() -> None:
    assert data_problem({"order": {"\u202eevil\nline": math.nan}}) == "`order.?` must be a finite number"
    assert data_problem({"items": [1, {"p": math.inf}]}) == "`items[1].p` must be a finite number"
    assert data_problem({1: "x"}) == "the data has a key that is not text"
    assert data_problem({"a": {2: "x"}}) == "`a` has a key that is not text"
    assert field_path(["vars", "total", 0, "ok_1"]) == "vars.total[0].ok_1"


def test_an_event_with_a_number_out_of_range_is_refused_by_its_field(claim: ResolvedPolicy) -> None:
    case = _open(claim, {"signed_at": "2026-10-01T00:00:00+08:00"})
    assert (
        _refused(claim, case, _send("pay", amount=math.nan))
        == "invalid data for 'pay': `amount` must be a finite number"
    )


# -- what slips past the door fails where it is computed ------------------------------------------


def test_an_opening_whose_window_runs_past_year_9999_is_refused_by_the_fields_read(claim: ResolvedPolicy) -> None:
    # Openings do not read the window: the case opens, and the event that reads it is refused.
    case = _open(claim, {"signed_at": "9999-12-01T00:00:00+08:00"})
    assert _refused(claim, case, _send("check")) == (
        "'check' is refused: `case.signed_at`, `case.months` put window 'warranty' out of range"
    )
    # The same case still takes the events that do not read the window.
    assert step(claim, case, _send("pay", amount=10)).refused is None


def test_a_window_of_too_many_months_refuses_the_event(claim: ResolvedPolicy) -> None:
    case = _open(claim, {"signed_at": "2026-10-01T00:00:00+08:00", "months": 30_000_000_000})
    assert _refused(claim, case, _send("check")) == (
        "'check' is refused: `case.signed_at`, `case.months` put window 'warranty' out of range"
    )
    fine = _open(claim, {"signed_at": "2026-10-01T00:00:00+08:00", "months": 24})
    assert step(claim, fine, _send("check")).state.state == "covered"


def test_an_amount_the_engine_cannot_take_to_the_cent_refuses_the_event(claim: ResolvedPolicy) -> None:
    case = _open(claim, {"signed_at": "2026-10-01T00:00:00+08:00"})
    big = float(MAX_NUMBER)
    assert _refused(claim, case, _send("pay", amount=big, times=big)) == (
        f"'pay' is refused: the amount of 'refund' must be between -{MAX_NUMBER} and {MAX_NUMBER}"
    )
    paid = step(claim, case, _send("pay", amount=big, times=1))
    assert paid.refused is None and [c.kind for c in paid.commands] == ["run_action"]


def test_a_variable_out_of_range_refuses_the_event(claim: ResolvedPolicy) -> None:
    case = _open(claim, {"signed_at": "2026-10-01T00:00:00+08:00"})
    assert _refused(claim, case, _send("note", value=float(2**40))) == (
        f"'note' is refused: `vars.noted` must be between -{MAX_NUMBER} and {MAX_NUMBER}"
    )
    assert step(claim, case, _send("note", value=3)).state.vars["noted"] == 9


def test_a_timer_whose_window_is_out_of_range_records_an_error_and_is_spent(claim: ResolvedPolicy) -> None:
    case = _open(claim, {"signed_at": "2026-10-01T00:00:00+08:00", "months": 30_000_000_000})
    [(name, due)] = case.timers.items()
    result = step(claim, case, TimerDue(name=name, at=due))
    message = "timer 'state:new:review' did nothing: `case.signed_at`, `case.months` put window 'warranty' out of range"
    assert result.failed == message
    assert result.commands == []
    assert result.state.timers == {} and result.state.state == "new" and not result.state.closed
    assert result.state.timeline[:-1] == case.timeline
    last = result.state.timeline[-1]
    assert (last.kind, last.name, last.detail) == ("error", "out_of_range", {"message": message, "timer": name})
    assert failure_messages(result.state.timeline) == [message]
    # The case still takes events.
    assert step(claim, result.state, _send("pay", amount=1)).refused is None


@pytest.mark.parametrize(
    ("start", "length", "error"),
    [
        (5, None, "the window's start is not a date-time"),
        ("2026-10-01T00:00:00", None, "the window's start has no UTC offset"),
        ("not a time", None, "the window's start is not an ISO 8601 date-time"),
        ("2026-10-01T00:00:00+08:00", "3", "the window's length is not a number"),
        ("2026-10-01T00:00:00+08:00", True, "the window's length is not a number"),
    ],
)
def test_a_window_that_cannot_be_computed_is_closed_and_says_why(
    claim: ResolvedPolicy, start: Any, length: Any, error: str
) -> None:
    case = _open(claim, {"signed_at": "2026-10-01T00:00:00+08:00", "start": start, "length": length})
    result = step(claim, case, _send("peek"))
    assert result.refused is None and result.state.vars["noted"] == 0
    assert failure_messages(result.state.timeline) == [f"decision 'loose' failed: {error}"]


@pytest.mark.parametrize(("length", "noted"), [(None, 1), (3, 1), (2.9, 0), (1, 0), (0, 0), (-4, 0)])
def test_a_window_of_days_from_the_case(claim: ResolvedPolicy, length: Any, noted: int) -> None:
    # Started 2026-10-30 10:00, read 2026-11-02 10:05: 3 days end 11-03 00:00 (open), 2 days (2.9 is
    # taken whole) end 11-02 00:00 (closed); no days or fewer: closed.
    data = {"signed_at": "2026-10-01T00:00:00+08:00", "start": "2026-10-30T10:00:00+08:00", "length": length}
    assert step(claim, _open(claim, data), _send("peek")).state.vars["noted"] == noted


def test_a_window_of_too_many_days_refuses_the_event(claim: ResolvedPolicy) -> None:
    case = _open(claim, {"signed_at": "2026-10-01T00:00:00+08:00", "start": "2026-11-01T10:00:00+08:00", "length": 3e9})
    assert _refused(claim, case, _send("peek")) == (
        "'peek' is refused: `case.start`, `case.length` put window 'loose' out of range"
    )


def test_arithmetic_that_names_nothing_still_refuses_with_a_reason(claim: ResolvedPolicy) -> None:
    # A state timer 999,999,999,999 days on: past what a date can hold, whatever the case's values.
    case = _open(claim, {"signed_at": "2026-10-01T00:00:00+08:00"})
    assert _refused(claim, case, _send("wait")) == (
        "'wait' is refused: a date or a number of the case is out of the range the engine computes with"
    )


def test_a_window_out_of_range_names_the_case_and_event_fields_it_read_once_each() -> None:
    from policy_engine.engine.windows import _fields_read

    texts = ["event.returned_at if event.returned_at else case.order.delivered_at", "case.item.warranty_months"]
    assert _fields_read(texts) == "`event.returned_at`, `case.order.delivered_at`, `case.item.warranty_months`"
    # Parameters and computed names are the policy's, not the caller's: the reason falls back to the case.
    assert _fields_read(["params.months * 2", ""]) == "the case's values"
