"""Who may send what, and when: the engine against the policy files read with `yaml.safe_load`.

The oracle (`oracle_reference.allowed_here`) reads the states, their `on:` events, `any_state`,
terminal states, each event's `roles` and the `parties` bindings straight from the YAML (its own
`extends` merge), not from the engine's resolved model. For random walks over every default loop
(openings from the policy tests, then drawn events, roles, senders and waits), each drawn (state,
event, role, sender):

- is admitted, by `step` and by `check_event` alike, when the file allows it (the event's data is
  made valid from the file's own field declarations, so only state, role and sender can refuse it);
- is refused otherwise, with a reason that names the state, the role or the event at fault, or says
  the sender is not this case's own party in its role (the case's customer or merchant, as `parties`
  binds them to the case data), and changes nothing but the refusal count and the timeline;
- and the case is closed exactly when its state is terminal in the file.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.engine import Actor, CaseState, EventIn, OpenCase, check_event, fire_due, open_case, step
from policy_engine.language import load_policy_set
from policy_engine.testing import load_scenario, scenario_files
from tests.conftest import POLICIES, SCENARIOS
from tests.policy_engine.engine.oracle_reference import (
    RAW_POLICIES,
    ROLES,
    allowed_here,
    event_names,
    handlers_on,
    is_terminal,
    party_of,
    sender_id,
)

POLICY_SET = load_policy_set([POLICIES])
OPENINGS = [load_scenario(p) for p in scenario_files([SCENARIOS])]
# Every event any policy declares, and one none does: a case is also sent events of other loops.
ALL_EVENTS = sorted({name for raw in RAW_POLICIES.values() for name in event_names(raw)} | {"no_such_event"})
WAITS = [dt.timedelta(minutes=m) for m in (1, 90, 24 * 60, 49 * 60, 8 * 24 * 60, 11 * 24 * 60, 31 * 24 * 60)]


def valid_value(spec: Any, draw: Any, now: dt.datetime) -> Any:
    """A value that fits a field as the policy file declares it."""
    if isinstance(spec, str):
        spec = {"type": spec}
    if "enum" in spec:
        return draw(st.sampled_from(spec["enum"]))
    kind = spec.get("type", "any")
    if kind in ("integer", "number"):
        low = int(spec.get("min", 0))
        return draw(st.integers(low, int(spec.get("max", low + 100))))
    if kind == "boolean":
        return draw(st.booleans())
    if kind == "object":
        return valid_data(spec.get("fields") or {}, draw, now)
    if kind == "list":
        return []
    if kind == "datetime":
        return now.isoformat()
    if kind == "date":
        return now.date().isoformat()
    return draw(st.sampled_from(["x", "SF123", "说明"]))


def valid_data(fields: dict[str, Any], draw: Any, now: dt.datetime) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in fields.items():
        optional = isinstance(spec, dict) and (spec.get("required") is False or "default" in spec)
        if not optional or draw(st.booleans()):
            out[name] = valid_value(spec, draw, now)
    return out


def satisfy_requirements(raw: dict[str, Any], event: str, data: dict[str, Any], case: CaseState) -> bool:
    """Make the data meet the event's `require` where the test knows how; False where it cannot."""
    spec = (raw.get("events") or {}).get(event) or {}
    if not spec.get("require"):
        return True
    if event == "choose_remedy":  # require: event.remedy in vars.remedy_options
        options = case.vars.get("remedy_options") or []
        if options:
            data["remedy"] = options[0]
            return True
    return False


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_the_engine_admits_exactly_what_the_policy_file_allows(data: st.DataObject) -> None:
    opening = data.draw(st.sampled_from(OPENINGS), label="opening")
    resolved = POLICY_SET.select(opening.case_type, opening.data, opening.opened_at)
    raw = RAW_POLICIES[resolved.id]
    case = open_case(
        resolved, OpenCase(case_id="RO-1", case_type=opening.case_type, data=opening.data, at=opening.opened_at)
    ).state
    now = opening.opened_at
    for _ in range(data.draw(st.integers(1, 40), label="steps")):
        assert case.state in raw["states"], f"state '{case.state}' is not in the policy file"
        assert case.closed == is_terminal(raw, case.state), case.state
        if data.draw(st.integers(0, 9), label="wait?") == 0:
            now += data.draw(st.sampled_from(WAITS), label="wait")
            case = fire_due(resolved, case, now)
            continue
        now += dt.timedelta(seconds=data.draw(st.integers(1, 3600), label="gap"))
        case = fire_due(resolved, case, now)
        here = raw["states"][case.state]
        allowed_now = (
            [] if is_terminal(raw, case.state) else sorted(set(handlers_on(here)) | set(raw.get("any_state") or {}))
        )
        own = [] if is_terminal(raw, case.state) else sorted(handlers_on(here))
        if allowed_now and data.draw(st.integers(0, 2), label="follow the file?") > 0:
            # Mostly the state's own events, so that walks get deep before an `any_state` ends them.
            choices = own if own and data.draw(st.integers(0, 9), label="own?") > 0 else allowed_now
            name = data.draw(st.sampled_from(choices), label="event")
            # The roles the file names for it, or any role: a wrong sender for an event the state accepts.
            roles = raw["events"][name]["roles"] if data.draw(st.booleans(), label="a sender it names?") else ROLES
            role = data.draw(st.sampled_from(roles), label="role")
        else:
            name = data.draw(st.sampled_from(ALL_EVENTS), label="event")
            role = data.draw(st.sampled_from(ROLES), label="role")
        fields = ((raw.get("events") or {}).get(name) or {}).get("data") or {}
        event_data = valid_data(fields, data.draw, now)
        satisfiable = satisfy_requirements(raw, name, event_data, case)
        # Mostly the case's own party for a bound role (else any id will do); otherwise someone else:
        # a stranger, a sender without an id, or the case's party in another role.
        if data.draw(st.integers(0, 2), label="the right sender?") > 0:
            actor_id = sender_id(raw, role, opening.data)
        else:
            others = ["X-1", "", *(party_of(raw, other, opening.data) or "" for other in ROLES if other != role)]
            actor_id = data.draw(st.sampled_from(others), label="sender")
        event = EventIn(name=name, actor=Actor(role=role, id=actor_id), data=event_data, at=now)

        allowed, at_fault = allowed_here(raw, case.state, name, role, actor_id, opening.data)
        reason = check_event(resolved, case, event)
        result = step(resolved, case, event)
        assert reason == result.refused, (name, role, case.state, reason, result.refused)
        if allowed and satisfiable:
            assert result.refused is None, (
                f"'{name}' by {role} in '{case.state}' is allowed by the file: {result.refused}"
            )
        if not allowed:
            assert result.refused is not None, f"'{name}' by {role} in '{case.state}' was applied; the file forbids it"
            assert at_fault in result.refused, (at_fault, result.refused)
            assert result.state.state == case.state and result.state.timers == case.timers
            assert result.state.refused == case.refused + 1
            assert result.state.timeline[-1].kind == "refused"
        case = result.state
