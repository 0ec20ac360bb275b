"""Rule tables: the compiled one-render path gives exactly what row-by-row evaluation gives."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.language import Decision, evaluate, evaluate_rows

CONDITIONS = [
    "case.amount >= 100",
    "case.amount < 50 and case.tier == 'vip'",
    "case.tier in ['vip', 'gold']",
    "case.missing.field == 1",  # errs on every input: the row is skipped, the error kept
    "case.amount > 'x'",  # errs where amount is a number: comparing with a string
    "case.note == '{% if %}'",  # template delimiters in a literal: evaluated row by row
    "not case.flag",
]

rows = st.lists(st.sampled_from(CONDITIONS), min_size=0, max_size=6)
inputs = st.fixed_dictionaries(
    {
        "amount": st.one_of(st.integers(0, 200), st.none()),
        "tier": st.sampled_from(["regular", "vip", "gold"]),
        "flag": st.booleans(),
        "note": st.sampled_from(["", "{% if %}"]),
    }
)


def _table(conditions: list[str], catch_all: bool) -> Decision:
    rules: list[dict[str, Any]] = [
        {"id": f"row{i}", "if": c, "then": {"pick": i, "doubled": "=case.amount"}} for i, c in enumerate(conditions)
    ]
    if catch_all or not rules:
        rules.append({"id": "otherwise", "then": {"pick": -1}})
    return Decision.model_validate({"rules": rules})


@settings(max_examples=300, deadline=None)
@given(rows, st.booleans(), inputs)
def test_compiled_table_agrees_with_row_by_row(conditions: list[str], catch_all: bool, case: dict[str, Any]) -> None:
    table = _table(conditions, catch_all)
    names = {"case": case}
    assert evaluate(table, names) == evaluate_rows(table, names)


def test_the_audit_trail_lists_the_inputs_read_up_to_the_match() -> None:
    table = _table(["case.amount >= 100", "case.tier == 'vip'", "not case.flag"], catch_all=True)
    outcome = evaluate(table, {"case": {"amount": 10, "tier": "vip", "flag": True, "note": ""}})
    assert outcome.rule == "row1"
    assert outcome.inputs == {"case.amount": 10, "case.tier": "vip"}
    assert outcome.outputs == {"pick": 1, "doubled": 10}
