"""Properties of the pure engine over random event sequences, for every default loop.

- it never raises;
- an open case always has a way forward (a timer or an accepted event);
- it refuses exactly what `check_event` (the update validator) refuses, and every event the policy
  file forbids in that state, to that role or from that sender (an oracle that does not share the
  engine's code: the YAML read with `yaml.safe_load`, see `oracle_reference.allowed_here` and
  `test_role_oracle.py`);
- a state serialised to JSON mid-run and restored continues identically.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy_engine.engine import (
    Actor,
    CaseState,
    EventIn,
    OpenCase,
    TimerDue,
    accepted_events,
    check_event,
    open_case,
    step,
)
from policy_engine.language import ROLES, FieldSpec, ResolvedPolicy, load_policy_set
from policy_engine.testing import load_scenario, scenario_files
from tests.conftest import POLICIES, SCENARIOS
from tests.policy_engine.engine.oracle_reference import RAW_POLICIES, allowed_here, sender_id

POLICY_SET = load_policy_set([POLICIES])
OPENINGS = [load_scenario(p) for p in scenario_files([SCENARIOS])]
CASE_TYPES = sorted({s.case_type for s in OPENINGS})


def value_for(spec: FieldSpec, draw: Any) -> Any:
    if spec.enum:
        return draw(st.sampled_from(spec.enum))
    if spec.type == "integer":
        low = int(spec.min) if spec.min is not None else 0
        high = int(spec.max) if spec.max is not None else 10
        return draw(st.integers(low - 1, high + 1))  # sometimes out of range: must be refused, not raise
    if spec.type == "number":
        return draw(st.floats(min_value=-1, max_value=5000, allow_nan=False))
    if spec.type == "boolean":
        return draw(st.booleans())
    if spec.type == "object" and spec.fields:
        return {k: value_for(v, draw) for k, v in spec.fields.items()}
    if spec.type == "list":
        return []
    return draw(st.sampled_from(["x", "", "SF123"]))


@st.composite
def runs(draw: Any, case_type: str) -> tuple[ResolvedPolicy, OpenCase, list[EventIn | float], int]:
    opening = draw(st.sampled_from([s for s in OPENINGS if s.case_type == case_type]))
    resolved = POLICY_SET.select(opening.case_type, opening.data, opening.opened_at)
    events = list(resolved.policy.events.items())
    raw = RAW_POLICIES[resolved.id]
    now = opening.opened_at
    inputs: list[EventIn | float] = []
    for _ in range(draw(st.integers(1, 14))):
        now += dt.timedelta(minutes=draw(st.sampled_from([1, 30, 600, 2880, 10080, 50000])))
        name, spec = draw(st.sampled_from(events))
        role = draw(st.sampled_from([*spec.roles, *ROLES]))
        data: dict[str, Any] = {}
        if draw(st.booleans()) or spec.data:
            data = {k: value_for(v, draw) for k, v in spec.data.items() if draw(st.integers(0, 9)) > 0}
        # Mostly the case's own party for a bound role (as the file binds it), sometimes a stranger.
        sender = sender_id(raw, role, opening.data) if draw(st.integers(0, 3)) > 0 else "X"
        inputs.append(EventIn(name=name, actor=Actor(role=role, id=sender), data=data, at=now))
    cut = draw(st.integers(0, len(inputs)))
    return resolved, OpenCase(case_id="P-1", case_type=case_type, data=opening.data, at=opening.opened_at), inputs, cut


def fire_due(resolved: ResolvedPolicy, state: CaseState, until: dt.datetime) -> CaseState:
    while not state.closed and (nxt := state.next_timer()) is not None and nxt[1] <= until:
        state = step(resolved, state, TimerDue(name=nxt[0], at=nxt[1])).state
    return state


def check_alive(resolved: ResolvedPolicy, state: CaseState) -> None:
    if not state.closed:
        assert state.timers or accepted_events(resolved, state), f"stuck in {state.state}"


def forbidden(resolved: ResolvedPolicy, state: CaseState, event: EventIn, data: dict[str, Any]) -> bool:
    """Whether the policy, read as an operator reads it, forbids this event here and now: its YAML
    file read with `yaml.safe_load` (states, `on:`, `any_state`, terminal states, each event's
    `roles`, `parties` read from the case's opening `data`, `extends` merged by the test), not the
    engine's resolved model."""
    allowed, _ = allowed_here(
        RAW_POLICIES[resolved.id], state.state, event.name, event.actor.role, event.actor.id, data
    )
    return not allowed


def play(resolved: ResolvedPolicy, state: CaseState, inputs: list[EventIn | float], data: dict[str, Any]) -> CaseState:
    for inp in inputs:
        assert isinstance(inp, EventIn)
        state = fire_due(resolved, state, inp.at)
        check_alive(resolved, state)
        reason = check_event(resolved, state, inp)
        result = step(resolved, state, inp)
        assert (result.refused is None) == (reason is None), (inp.name, reason, result.refused)
        # Against an oracle that shares nothing with the engine's admission code: the state, the
        # roles and the parties read straight from the policy file.
        if forbidden(resolved, state, inp, data):
            assert result.refused is not None, f"{inp.name} by {inp.actor.role} in {state.state} was applied"
        elif result.refused is not None:
            assert not any(
                words in result.refused
                for words in ("not accepted in state", "may not send", "this case's", "the case names no")
            ), (
                inp.name,
                inp.actor.role,
                state.state,
                result.refused,
            )
        if reason is not None:
            assert result.refused == reason
            # A refusal changes nothing but the refusal entry and the refusal count.
            assert result.state.state == state.state and result.state.timers == state.timers
            assert result.state.timeline[-1].kind == "refused"
        state = result.state
        check_alive(resolved, state)
    return state


def check_loop(case_type: str, draw_run: tuple[ResolvedPolicy, OpenCase, list[EventIn | float], int]) -> None:
    resolved, opening, inputs, cut = draw_run
    state = open_case(resolved, opening).state
    check_alive(resolved, state)
    middle = play(resolved, state, inputs[:cut], opening.data)
    restored = CaseState.model_validate_json(middle.model_dump_json())
    assert restored == middle
    end = inputs[-1].at + dt.timedelta(days=120) if inputs else opening.at  # type: ignore[union-attr]
    a = fire_due(resolved, play(resolved, middle, inputs[cut:], opening.data), end)
    b = fire_due(resolved, play(resolved, restored, inputs[cut:], opening.data), end)
    assert a.model_dump(mode="json") == b.model_dump(mode="json")
    check_alive(resolved, a)


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.data())
def test_return_loop(data: st.DataObject) -> None:
    check_loop("return", data.draw(runs("return")))


@SETTINGS
@given(st.data())
def test_refund_only_loop(data: st.DataObject) -> None:
    check_loop("refund_only", data.draw(runs("refund_only")))


@SETTINGS
@given(st.data())
def test_exchange_loop(data: st.DataObject) -> None:
    check_loop("exchange", data.draw(runs("exchange")))


@SETTINGS
@given(st.data())
def test_repair_loop(data: st.DataObject) -> None:
    check_loop("repair", data.draw(runs("repair")))


@SETTINGS
@given(st.data())
def test_complaint_loop(data: st.DataObject) -> None:
    check_loop("complaint", data.draw(runs("complaint")))


def test_every_loop_has_openings_to_draw_from() -> None:
    assert set(CASE_TYPES) == set(POLICY_SET.case_types)
