"""ExpressionChecker.check on an expression that does not compile: reported where the expression
starts (the loader's model rejects such text first; the checker must not fail on it either)."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine.language import PolicyError, load_policy_set
from policy_engine.language.expression_checks import ExpressionChecker
from policy_engine.language.model import Policy
from policy_engine.language.scope import policy_scope
from policy_engine.language.yamlsource import Reporter, load_yaml_text
from tests.conftest import ROOT

VALID = ROOT / "tests" / "broken_policies" / "_valid.yaml"


def test_a_syntax_error_whose_message_quotes_nothing_is_reported_where_the_expression_starts(
    tmp_path: Path,
) -> None:
    data, _, _ = load_yaml_text(VALID.read_text(encoding="utf-8"), str(VALID))
    policy = Policy.model_validate(data["policies"][0])
    # A line of its own: the message names no token, so no word on the line (not even the
    # placeholder XXXX) may be taken for the place of the mistake.
    source = tmp_path / "where.yaml"
    source.write_text("when: case..amount or XXXX\n", encoding="utf-8")
    where, smap, problems = load_yaml_text(source.read_text(encoding="utf-8"), str(source))
    assert not problems
    report = Reporter(smap)
    checker = ExpressionChecker(policy, report)
    checker.check(("when",), where["when"], policy_scope(policy))
    assert [str(p) for p in report.problems] == [
        f"{source}:1:7: expression `case..amount or XXXX` does not compile: expected name or number"
    ]


def test_an_expression_not_written_is_not_checked() -> None:
    data, smap, _ = load_yaml_text(VALID.read_text(encoding="utf-8"), str(VALID))
    policy = Policy.model_validate(data["policies"][0])
    report = Reporter(smap)
    ExpressionChecker(policy, report).check(("when",), None, policy_scope(policy))
    assert report.problems == []


def test_an_expression_that_does_not_compile_in_a_branch_is_the_only_problem_reported() -> None:
    case = ROOT / "tests" / "broken_policies" / "25-expression-syntax.yaml"
    with pytest.raises(PolicyError) as info:
        load_policy_set([ROOT / "tests" / "broken_policies" / "_base", case])
    assert [f"{p.line}:{p.col}" for p in info.value.problems] == ["59:21"]


# `goto:` is a state name or a list of branches: a mistake in one is not also reported as the other.
_BRANCHES = """            goto:
              - if: counters.reopens >= 2
                goto: closed
              - goto: working
"""


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("goto: solved", "goto: sol ved", ["52:19: 'sol ved' is not a valid name"]),
        ("goto: solved", "goto: 5", ["52:19: goto: Input should be a valid string"]),
        (_BRANCHES, _BRANCHES.replace("goto: working", "goto: wor king"), ["60:23: 'wor king' is not a valid name"]),
        (
            _BRANCHES,
            "            goto: {if: counters.reopens >= 2, goto: closed}\n",
            ["57:19: goto: Input should be a valid list"],
        ),
    ],
    ids=["name", "number", "name-in-a-branch", "one-branch-without-a-list"],
)
def test_a_mistake_in_goto_is_reported_once_as_what_was_written(
    tmp_path: Path, old: str, new: str, expected: list[str]
) -> None:
    text = VALID.read_text(encoding="utf-8")
    assert old in text
    policy = tmp_path / "goto.yaml"
    policy.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy_set([ROOT / "tests" / "broken_policies" / "_base", policy])
    reported = [f"{p.line}:{p.col}: {p.message}" for p in info.value.problems]
    assert len(reported) == len(expected), reported
    assert all(r.startswith(e) for r, e in zip(reported, expected, strict=True)), reported
