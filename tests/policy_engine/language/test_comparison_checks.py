"""Comparisons that cannot work, reported with the exact message and place an operator reads.

Each case is `_valid.yaml` of the broken-policy corpus with one expression changed; the test states
every problem the validator reports (`LINE:COL: message`), so a problem that moves, changes its words
or appears twice is noticed, and so is one reported where nothing is wrong.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.policy_engine.language.corpus import edit
from tests.policy_engine.language.corpus import problems as corpus_problems

# A decision rule's condition (line 22, column 17): no event is in scope there.
RULE_IF = "if: case.urgent or case.amount >= params.big_amount"
# A branch condition in the handler of `reopen` (line 58, column 21): the event and actor are in scope.
BRANCH_IF = "if: counters.reopens >= 2"


def problems(tmp_path: Path, *replacements: tuple[str, str]) -> list[str]:
    """The problems of `_valid.yaml` with `replacements` made, as `LINE:COL: message`."""
    return corpus_problems(tmp_path, edit(*replacements))


def rule_if(expression: str) -> tuple[str, str]:
    return (RULE_IF, f"if: {expression}")


def branch_if(expression: str) -> tuple[str, str]:
    return (BRANCH_IF, f"if: {expression}")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("state == 1", "22:17: `state == 1` compares text (state) with a number (1): it is never true"),
        ("case_id != 1", "22:17: `case_id != 1` compares text (case_id) with a number (1): it is always true"),
        (
            "case_type > 1",
            "22:17: `case_type > 1` compares text (case_type) with a number (1): it fails when the case runs",
        ),
        ("vars.note == 0", "22:17: `vars.note == 0` compares text (vars.note) with a number (0): it is never true"),
        (
            "windows.grace == 'open'",
            "22:17: `windows.grace == 'open'` compares true/false (windows.grace) with text ('open'): it is never true",
        ),
        (
            "case.amount in params.big_amount",
            "22:32: `case.amount in params.big_amount`: params.big_amount is a number, not a list: `in` needs a list",
        ),
        (
            "case.amount not in windows.grace",
            "22:36: `case.amount not in windows.grace`: windows.grace is true/false, not a list: `not in` needs a list",
        ),
        # Each comparison of a condition is checked, also after one that is fine.
        (
            "case.amount > 0 and case.amount < '1000'",
            "22:17: `case.amount < '1000'` compares a number (case.amount) with text ('1000'): "
            "it fails when the case runs",
        ),
        (
            "case.customer.id in ['C-1'] and case.amount > '100'",
            "22:49: `case.amount > '100'` compares a number (case.amount) with text ('100'): it fails when the case runs",
        ),
    ],
)
def test_a_comparison_that_cannot_work_is_reported_at_its_operand(
    tmp_path: Path, expression: str, expected: str
) -> None:
    assert problems(tmp_path, rule_if(expression)) == [expected]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (
            "counters.reopens >= '2'",
            "58:21: `counters.reopens >= '2'` compares a number (counters.reopens) with text ('2'): "
            "it fails when the case runs",
        ),
        (
            "decisions.priority.level == 1",
            "58:21: `decisions.priority.level == 1` compares text (decisions.priority.level) with a number (1): "
            "it is never true",
        ),
        ("actor.id == 1", "58:21: `actor.id == 1` compares text (actor.id) with a number (1): it is never true"),
        # A role compared with a number: one problem, not also an unknown role.
        ("actor.role == 1", "58:21: `actor.role == 1` compares text (actor.role) with a number (1): it is never true"),
        ("\"'agnet' == actor.role\"", "58:23: unknown role 'agnet'; did you mean 'agent'?"),
        ("actor.role in ['agent', 'supervisr']", "58:46: unknown role 'supervisr'; did you mean 'supervisor'?"),
    ],
)
def test_a_comparison_in_an_event_handler_is_checked_with_what_the_handler_reads(
    tmp_path: Path, expression: str, expected: str
) -> None:
    assert problems(tmp_path, branch_if(expression)) == [expected]


def test_event_data_is_compared_by_its_declared_type(tmp_path: Path) -> None:
    declared = ("reopen: {roles: [customer]}", "reopen: {roles: [customer], data: {reason: string}}")
    assert problems(tmp_path, declared, branch_if("event.reason == 1")) == [
        "58:21: `event.reason == 1` compares text (event.reason) with a number (1): it is never true"
    ]


@pytest.mark.parametrize(
    "expression",
    [
        "case.urgent == 1",  # true/false is a number to the engine: true == 1 holds
        "case.amount >= params.big_amount * 2",  # a computed side: its kind is not known
        "now > 5",  # nothing says what `now` is compared with here
        "decisions.priority.level == 'high'",
    ],
)
def test_a_comparison_that_can_work_is_not_reported(tmp_path: Path, expression: str) -> None:
    assert problems(tmp_path, branch_if(expression)) == []


def test_a_decision_output_some_rule_computes_is_not_assumed_text(tmp_path: Path) -> None:
    computed = ("then: {level: low}", "then: {level: '=params.big_amount'}")
    assert problems(tmp_path, computed, branch_if("decisions.priority.level == 1")) == []


# -- parameters written as text -------------------------------------------------------------------


def test_a_number_written_with_a_thousands_separator_is_reported_at_the_parameter_with_the_number(
    tmp_path: Path,
) -> None:
    assert problems(tmp_path, ("big_amount: 100", "big_amount: '1,000'")) == [
        "13:19: parameter 'big_amount' is the text '1,000' but `case.amount >= params.big_amount` (line 22) "
        "compares it with a number: write it as a number: 1000"
    ]


def test_a_parameter_on_the_left_of_the_comparison_is_reported_too(tmp_path: Path) -> None:
    assert problems(
        tmp_path, ("big_amount: 100", "big_amount: 1 000"), rule_if("params.big_amount <= case.amount")
    ) == [
        "13:19: parameter 'big_amount' is the text '1 000' but `params.big_amount <= case.amount` (line 22) "
        "compares it with a number: write it as a number: 1000"
    ]


def test_a_parameter_that_is_no_number_at_all_is_told_to_lose_its_quotes(tmp_path: Path) -> None:
    assert problems(tmp_path, ("big_amount: 100", "big_amount: a lot")) == [
        "13:19: parameter 'big_amount' is the text 'a lot' but `case.amount >= params.big_amount` (line 22) "
        "compares it with a number: write it as a number, without quotes"
    ]


def test_a_text_parameter_read_in_two_places_is_reported_once(tmp_path: Path) -> None:
    assert problems(
        tmp_path, ("big_amount: 100", "big_amount: '1,000'"), branch_if("case.amount > params.big_amount")
    ) == [
        "13:19: parameter 'big_amount' is the text '1,000' but `case.amount >= params.big_amount` (line 22) "
        "compares it with a number: write it as a number: 1000"
    ]


def test_two_text_parameters_in_one_condition_are_both_reported(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        ("big_amount: 100", "min_amount: '1,000'\n      max_amount: '5,000'"),
        rule_if("case.amount >= params.min_amount and case.amount <= params.max_amount"),
    ) == [
        "13:19: parameter 'min_amount' is the text '1,000' but `case.amount >= params.min_amount` (line 23) "
        "compares it with a number: write it as a number: 1000",
        "14:19: parameter 'max_amount' is the text '5,000' but `case.amount <= params.max_amount` (line 23) "
        "compares it with a number: write it as a number: 5000",
    ]


def test_a_nested_parameter_is_named_by_its_dotted_path(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        ("big_amount: 100", "limits: {big: '1,000'}"),
        rule_if("case.amount >= params.limits.big"),
    ) == [
        "13:21: parameter 'limits.big' is the text '1,000' but `case.amount >= params.limits.big` (line 22) "
        "compares it with a number: write it as a number: 1000"
    ]


def test_a_list_written_as_text_is_told_how_to_write_the_list(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        ("big_amount: 100", "big_amount: 100\n      vips: 'C-1, C-2'"),
        rule_if("case.customer.id not in params.vips"),
    ) == [
        "14:13: parameter 'vips' is the text 'C-1, C-2' but `case.customer.id not in params.vips` (line 23) "
        "reads it as a list: write it as a list: [C-1, C-2]"
    ]


def test_a_list_written_as_text_without_spaces_is_told_how_to_write_the_list(tmp_path: Path) -> None:
    assert problems(
        tmp_path,
        ("big_amount: 100", "big_amount: 100\n      vips: 'C-1,C-2,C-3'"),
        rule_if("case.customer.id in params.vips"),
    ) == [
        "14:13: parameter 'vips' is the text 'C-1,C-2,C-3' but `case.customer.id in params.vips` (line 23) "
        "reads it as a list: write it as a list: [C-1, C-2, C-3]"
    ]


# -- names and decisions ---------------------------------------------------------------------------


def test_a_decision_never_taken_is_reported_where_it_is_read(tmp_path: Path) -> None:
    table = (
        "    counters:",
        "      tier:\n        rules:\n          - id: all\n            then: {name: gold}\n    counters:",
    )
    assert problems(tmp_path, table, branch_if("counters.reopens >= 2 or decisions.tier.name == 'gold'")) == [
        "62:46: decision 'tier' is read but never taken: no handler has `decide: tier`"
    ]
