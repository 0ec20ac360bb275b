"""What the expression checker knows a comparison's side holds, the decisions an expression reads,
and the number an operator meant by a parameter written as text."""

from __future__ import annotations

import pytest

from policy_engine.language.expression_checks import ExpressionChecker, _as_number
from policy_engine.language.expressions import Operand
from policy_engine.language.model import Policy
from policy_engine.language.yamlsource import Reporter, load_yaml_text
from tests.conftest import ROOT

VALID = (ROOT / "tests" / "broken_policies" / "_valid.yaml").read_text(encoding="utf-8")


def checker(*replacements: tuple[str, str], event: str | None = None) -> ExpressionChecker:
    text = VALID
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    data, smap, problems = load_yaml_text(text, "policy.yaml")
    assert not problems
    policy = Policy.model_validate(data["policies"][0])
    expressions = ExpressionChecker(policy, Reporter(smap))
    expressions.event = event
    return expressions


def kind_of(expressions: ExpressionChecker, path: str) -> str | None:
    return expressions.kind(Operand(path=path))


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("state", "text"),
        ("case_id", "text"),
        ("case_type", "text"),
        ("actor.role", "text"),
        ("actor.id", "text"),
        ("case.amount", "a number"),
        ("case.urgent", "true/false"),
        ("case.customer.id", "text"),
        ("vars.note", "text"),
        ("params.big_amount", "a number"),
        ("counters.reopens", "a number"),
        ("windows.grace", "true/false"),
        ("decisions.priority.level", "text"),
        # Names whose value the policy does not say (or that hold no value one compares).
        ("now", None),
        ("now.id", None),
        ("actor", None),
        ("counters", None),
        ("windows", None),
        ("decisions.priority", None),
        ("decisions.priority.level.x", None),
        ("decisions.unknown.level", None),
        ("params.unknown", None),
        ("params.big_amount.value", None),
        ("event.answer", None),  # no event is handled here
    ],
)
def test_the_kind_of_a_name_outside_event_handlers(path: str, kind: str | None) -> None:
    assert kind_of(checker(), path) == kind


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("event.answer", "text"),
        ("vars.note", "text"),
        ("case.amount", "a number"),
        ("counters.reopens", "a number"),
    ],
)
def test_the_kind_of_a_name_in_a_handler_of_an_event_with_data(path: str, kind: str | None) -> None:
    assert kind_of(checker(event="solve"), path) == kind


def test_literals_have_their_kind_and_a_computed_side_none() -> None:
    expressions = checker()
    assert expressions.kind(Operand(literal=True, value=3)) == "a number"
    assert expressions.kind(Operand(literal=True, value="x")) == "text"
    assert expressions.kind(Operand()) is None


def test_a_decision_output_is_known_only_when_every_rule_gives_the_same_kind_literally() -> None:
    numbers = checker(("then: {level: high}", "then: {level: 1}"), ("then: {level: low}", "then: {level: 2}"))
    assert kind_of(numbers, "decisions.priority.level") == "a number"
    mixed = checker(("then: {level: low}", "then: {level: 2}"))
    assert kind_of(mixed, "decisions.priority.level") is None
    computed = checker(("then: {level: low}", "then: {level: '=params.big_amount'}"))
    assert kind_of(computed, "decisions.priority.level") is None
    all_computed = checker(
        ("then: {level: high}", "then: {level: '=case.note'}"), ("then: {level: low}", "then: {level: '=case.x'}")
    )
    assert kind_of(all_computed, "decisions.priority.level") is None


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("decisions.priority.level == 'high'", ["priority"]),
        ("decisions.priority['level'] == 'high'", ["priority"]),
        ("decisions.priority.level == 'high' or decisions.priority.level == 'low'", ["priority"]),
        ("'priority' in decisions", []),
        ("decisions.unknown.level == 'high'", []),
        ("case.decisions.priority == 1", []),
    ],
)
def test_the_decisions_an_expression_reads(text: str, read: list[str]) -> None:
    assert checker().decisions_read(text) == read


@pytest.mark.parametrize(
    ("text", "number"),
    [("1,000", "1000"), ("1 000", "1000"), ("1_000.50", "1000.50"), ("100", "100"), ("a lot", None), ("", None)],
)
def test_the_number_a_parameter_written_as_text_means(text: str, number: str | None) -> None:
    assert _as_number(text) == number
