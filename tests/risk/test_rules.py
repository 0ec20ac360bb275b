"""The risk rules file: the shipped one is valid, and each mistake is reported at FILE:LINE:COL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from policy_engine.language import PolicyError
from risk.rules import RULES_FILE, load_rules, rules_problems
from tests.conftest import POLICIES

VALID = """\
window: 30d
min_cases: 10
rules:
  - id: many-complaints
    figure: complaints
    at_least: 10
  - id: low-satisfaction
    figure: satisfaction_rate
    below: 90%
"""


def test_the_shipped_rules_are_valid() -> None:
    rules = load_rules(POLICIES / RULES_FILE)
    assert rules.window == dt.timedelta(days=30)
    assert {rule.figure for rule in rules.rules} == {"complaints", "complaint_rate", "breach_rate", "satisfaction_rate"}


def test_thresholds_read_as_written(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(VALID, encoding="utf-8")
    rules = load_rules(path)
    assert [(r.id, r.comparison, r.threshold) for r in rules.rules] == [
        ("many-complaints", "at_least", 10.0),
        ("low-satisfaction", "below", 0.9),
    ]
    assert rules.rules[1].explain() == "satisfaction_rate < 90%"
    assert rules.rules[1].crossed_by(0.89) and not rules.rules[1].crossed_by(0.9)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("window: 30d", "window: 30 working days", "rules.yaml:1:9: window is a length of time: write 30d, 7d or 720h"),
        ("min_cases: 10", "min_cases: -1", "rules.yaml:2:12: min_cases is a whole number, 0 or more"),
        ("min_cases: 10", "min_case: 10", "rules.yaml:2:1: unknown key 'min_case'; did you mean 'min_cases'?"),
        (
            "figure: complaints",
            "figure: complaint",
            "rules.yaml:5:13: unknown figure 'complaint'; did you mean 'complaints'?: a rule tests one of "
            "cases, complaints, complaint_rate, breach_rate, satisfaction_rate",
        ),
        ("below: 90%", "below: 0.9", "rules.yaml:9:12: a rate's threshold is a percentage from 0% to 100%: write 20%"),
        ("below: 90%", "below: 190%", "rules.yaml:9:12: a rate's threshold is a percentage from 0% to 100%: write 20%"),
        ("at_least: 10", "at_least: 10%", "rules.yaml:6:15: a count's threshold is a whole number, 0 or more"),
        (
            "at_least: 10",
            "above: 3\n    at_least: 10",
            "rules.yaml:4:5: a rule has exactly one of at_least, above, below, at_most",
        ),
        (
            "id: low-satisfaction",
            "id: many-complaints",
            "rules.yaml:7:9: rule id 'many-complaints' is used twice (first in rule 1)",
        ),
        ("    at_least: 10", "    at_least: 10\n    when: always", "rules.yaml:7:5: unknown key 'when'"),
        ("window: 30d", "window: [30d]\nwindow: 7d", "rules.yaml:2:1: duplicate key 'window' (first at line 1)"),
    ],
)
def test_a_mistake_is_reported_where_it_is_written(tmp_path: Path, old: str, new: str, expected: str) -> None:
    path = tmp_path / "rules.yaml"
    assert old in VALID
    path.write_text(VALID.replace(old, new, 1), encoding="utf-8")
    problems = [str(p) for p in rules_problems(path, "rules.yaml")]
    assert expected in problems


def test_every_mistake_at_once_and_the_file_is_refused_whole(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(VALID.replace("30d", "soon").replace("90%", "lots"), encoding="utf-8")
    with pytest.raises(PolicyError) as refused:
        load_rules(path, "rules.yaml")
    assert [(p.line, p.col) for p in refused.value.problems] == [(1, 9), (9, 12)]


def test_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("- window: 30d\n", encoding="utf-8")
    assert [str(p) for p in rules_problems(path, "rules.yaml")] == [
        "rules.yaml:1:1: the risk rules are a mapping with window, min_cases and rules"
    ]


def test_a_tag_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(VALID.replace("min_cases: 10", "min_cases: !!python/object:os.system 10"), encoding="utf-8")
    problems = [str(p) for p in rules_problems(path, "rules.yaml")]
    assert problems and all(p.startswith("rules.yaml:2:") for p in problems)
