"""Refusal reasons name fields, never values a caller wrote: reasons go to logs and histories, where a
caller's text could forge lines (newlines, U+202E) or carry what should not be kept.

Policy-written text (events, states, roles of the language, enum choices, limits) may appear."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from policy_engine.engine import Actor, CaseState, EventIn, OpenCase, OpenRefused, check_event, open_case, step
from policy_engine.language import ResolvedPolicy, load_policy_set
from tests.conftest import ROOT

BASE = ROOT / "tests" / "broken_policies" / "_base"
AT = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
# What a hostile caller writes: a line break (a forged log line), a right-to-left override, a marker
# to look for.
HOSTILE = "ZZ\n\u202eFORGED"

FORM = """
policies:
  - policy: form
    case_type: form
    calendar: test-cal
    locales: [zh-CN, en]
    data:
      kind: {type: string, enum: [a, b]}
    events:
      fill:
        roles: [customer]
        data:
          colour: {type: string, enum: [red, blue]}
          score: {type: integer, min: 1, max: 5}
          on_day: {type: date, required: false}
          at: {type: datetime, required: false}
          note: {type: string, required: false}
        require:
          - if: event.score != 3
            message: three is not a score
          - if: event.note is none or vars[event.note] == 1
            message: never shown
    open:
      goto: new
    states:
      new:
        on:
          fill: done
      done: {terminal: true}
"""


@pytest.fixture(scope="module")
def form(tmp_path_factory: pytest.TempPathFactory) -> ResolvedPolicy:
    path: Path = tmp_path_factory.mktemp("form") / "form.yaml"
    path.write_text(FORM, encoding="utf-8")
    return load_policy_set([BASE, path]).policies["form"]


@pytest.fixture(scope="module")
def case(form: ResolvedPolicy) -> CaseState:
    return open_case(form, OpenCase(case_id="F-1", case_type="form", data={"kind": "a"}, at=AT)).state


def _reason(form: ResolvedPolicy, case: CaseState, name: str, role: str = "customer", **data: Any) -> str:
    event = EventIn(name=name, actor=Actor(role=role, id=HOSTILE), data=data, at=AT + dt.timedelta(minutes=1))
    result = step(form, case, event)
    assert result.refused is not None and check_event(form, case, event) == result.refused
    assert "ZZ" not in result.refused and "FORGED" not in result.refused and "\n" not in result.refused
    return result.refused


def _fill(**data: Any) -> dict[str, Any]:
    return {"colour": "red", "score": 2} | data


def test_a_value_outside_the_choices_names_the_field_and_the_choices(form: ResolvedPolicy, case: CaseState) -> None:
    reason = _reason(form, case, "fill", **_fill(colour=HOSTILE))
    assert reason == "invalid data for 'fill': colour: is not one of: red, blue"


@pytest.mark.parametrize(
    ("score", "problem"), [(-(10**9), "is below the minimum 1"), (10**9, "is above the maximum 5")]
)
def test_a_number_past_its_limits_names_the_field_and_the_limit(
    form: ResolvedPolicy, case: CaseState, score: int, problem: str
) -> None:
    reason = _reason(form, case, "fill", **_fill(score=score))
    assert reason == f"invalid data for 'fill': score: {problem}"
    assert str(score) not in reason


@pytest.mark.parametrize(
    ("field", "problem"), [("on_day", "is not a date (YYYY-MM-DD)"), ("at", "is not an ISO 8601 date-time")]
)
def test_text_that_is_not_a_time_names_the_field(
    form: ResolvedPolicy, case: CaseState, field: str, problem: str
) -> None:
    assert _reason(form, case, "fill", **_fill(**{field: HOSTILE})) == f"invalid data for 'fill': {field}: {problem}"


def test_an_undeclared_key_is_named_only_when_it_is_a_plain_name(form: ResolvedPolicy, case: CaseState) -> None:
    assert _reason(form, case, "fill", **_fill(**{HOSTILE: 1})) == "invalid data for 'fill': ?: is not a known field"
    assert _reason(form, case, "fill", **_fill(colr=1)) == "invalid data for 'fill': colr: is not a known field"


def test_an_unknown_event_and_a_role_outside_the_language_are_not_repeated(
    form: ResolvedPolicy, case: CaseState
) -> None:
    assert _reason(form, case, HOSTILE) == "unknown event: 'form' cases declare no event of that name"
    assert _reason(form, case, "fill", role=HOSTILE, **_fill()) == (
        "the sender's role may not send 'fill' (allowed: customer)"
    )
    assert _reason(form, case, "fill", role="merchant", **_fill()) == (
        "role 'merchant' may not send 'fill' (allowed: customer)"
    )


def test_a_requirement_names_itself_never_the_values_it_read(form: ResolvedPolicy, case: CaseState) -> None:
    assert _reason(form, case, "fill", **_fill(score=3)) == "three is not a score"
    # The expression's own error would quote the key it looked up: the caller's note.
    assert _reason(form, case, "fill", **_fill(note=HOSTILE)) == (
        "'fill' cannot be checked: `event.note is none or vars[event.note] == 1` could not be evaluated"
    )


def test_an_opening_names_the_field(form: ResolvedPolicy) -> None:
    with pytest.raises(OpenRefused) as refused:
        open_case(form, OpenCase(case_id="F-2", case_type="form", data={"kind": HOSTILE}, at=AT))
    assert str(refused.value) == "the case data does not fit the policy\n  - kind: is not one of: a, b"
