"""The merchant risk rules (`policies/compliance/merchant_risk.yaml`), read and checked.

Loaded with the policies' bounded YAML loader, so a mistake reads as `FILE:LINE:COL: message` at the
place to edit, every mistake at once, and a file with any mistake is refused whole.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policy_engine.language.durations import Exact, parse_duration
from policy_engine.language.problems import PolicyError, Problem, did_you_mean
from policy_engine.language.yamlsource import DocPath, Reporter, load_yaml_file

RULES_FILE = Path("compliance") / "merchant_risk.yaml"  # under the policy folder

# The figures a rule may test (risk/figures.py computes them); rates are shares from 0 to 1.
COUNTS = ("cases", "complaints")
RATES = ("complaint_rate", "breach_rate", "satisfaction_rate")
FIGURES = COUNTS + RATES

# A rule's comparison: the key it is written with, and whether a figure crosses the threshold.
COMPARISONS: Mapping[str, Callable[[float, float], bool]] = {
    "at_least": operator.ge,
    "above": operator.gt,
    "below": operator.lt,
    "at_most": operator.le,
}
COMPARISON_WORDS = {"at_least": ">=", "above": ">", "below": "<", "at_most": "<="}

_TOP_KEYS = ("window", "min_cases", "rules")
_RULE_KEYS = ("id", "description", "figure", *COMPARISONS)
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)\s*%$")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    figure: str
    comparison: str  # a key of COMPARISONS
    threshold: float

    def crossed_by(self, value: float) -> bool:
        return COMPARISONS[self.comparison](value, self.threshold)

    @property
    def is_rate(self) -> bool:
        return self.figure in RATES

    def explain(self) -> str:
        """`complaint_rate >= 20%`: the rule as a person reads it."""
        shown = f"{self.threshold:.0%}" if self.is_rate else f"{self.threshold:g}"
        return f"{self.figure} {COMPARISON_WORDS[self.comparison]} {shown}"


@dataclass(frozen=True)
class RiskRules:
    window: dt.timedelta
    min_cases: int  # rate rules are judged only for merchants with at least this many cases
    rules: tuple[Rule, ...]
    source: str  # the file, as shown in problems


def load_rules(path: Path, display: str | None = None) -> RiskRules:
    """The rules in `path`; raises PolicyError with every problem, each at FILE:LINE:COL."""
    data, smap, problems = load_yaml_file(path, display)
    report = Reporter(smap, list(problems))
    rules = None if problems else _read(data, report)
    if report.problems or rules is None:
        raise PolicyError(report.problems)
    return rules


def _read(data: Any, report: Reporter) -> RiskRules | None:
    if not isinstance(data, dict):
        report.error((), "the risk rules are a mapping with window, min_cases and rules")
        return None
    _unknown_keys(data, (), _TOP_KEYS, report)
    for key in _TOP_KEYS:
        if key not in data:
            report.error((), f"missing '{key}'")
    window = _window(data.get("window"), report)
    min_cases = _whole(data.get("min_cases"), ("min_cases",), report)
    raw_rules = data.get("rules")
    rules: list[Rule] = []
    if "rules" in data and (not isinstance(raw_rules, list) or not raw_rules):
        report.error(("rules",), "rules is a list of at least one rule")
    elif isinstance(raw_rules, list):
        seen: dict[str, int] = {}
        for index, raw in enumerate(raw_rules):
            rule = _rule(raw, ("rules", index), report)
            if rule is None:
                continue
            if rule.id in seen:
                report.error(
                    ("rules", index, "id"), f"rule id '{rule.id}' is used twice (first in rule {seen[rule.id] + 1})"
                )
            seen.setdefault(rule.id, index)
            rules.append(rule)
    if report.problems or window is None or min_cases is None:
        return None
    return RiskRules(window, min_cases, tuple(rules), report.smap.file)


def _unknown_keys(data: dict[str, Any], path: DocPath, known: tuple[str, ...], report: Reporter) -> None:
    for key in data:
        if key not in known:
            report.error((*path, key), f"unknown key '{key}'{did_you_mean(key, known)}", at_key=True)


def _window(value: Any, report: Reporter) -> dt.timedelta | None:
    if value is None:
        return None
    try:
        duration = parse_duration(value) if isinstance(value, str) else None
    except ValueError:
        duration = None
    if not isinstance(duration, Exact) or duration.seconds <= 0:
        report.error(("window",), "window is a length of time: write 30d, 7d or 720h")
        return None
    return dt.timedelta(seconds=duration.seconds)


def _whole(value: Any, path: DocPath, report: Reporter) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        report.error(path, f"{path[-1]} is a whole number, 0 or more")
        return None
    return value


def _rule(raw: Any, path: DocPath, report: Reporter) -> Rule | None:
    if not isinstance(raw, dict):
        report.error(path, "a rule is a mapping with id, figure and one of " + ", ".join(COMPARISONS))
        return None
    before = len(report.problems)
    _unknown_keys(raw, path, _RULE_KEYS, report)
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        report.error((*path, "id") if "id" in raw else path, "a rule needs an id: lowercase letters, digits, - and _")
    description = raw.get("description", "")
    if not isinstance(description, str):
        report.error((*path, "description"), "description is text")
    figure = raw.get("figure")
    if not isinstance(figure, str) or figure not in FIGURES:
        where = (*path, "figure") if "figure" in raw else path
        named = f"unknown figure '{figure}'{did_you_mean(figure, FIGURES)}" if isinstance(figure, str) else "no figure"
        report.error(where, f"{named}: a rule tests one of {', '.join(FIGURES)}")
    comparisons = [key for key in COMPARISONS if key in raw]
    if len(comparisons) != 1:
        report.error(path, f"a rule has exactly one of {', '.join(COMPARISONS)}")
    elif isinstance(figure, str) and figure in FIGURES:
        threshold = _threshold(raw[comparisons[0]], figure in RATES, (*path, comparisons[0]), report)
        if len(report.problems) == before and threshold is not None:
            return Rule(str(rule_id), description, figure, comparisons[0], threshold)
    return None


def _threshold(value: Any, is_rate: bool, path: DocPath, report: Reporter) -> float | None:
    if is_rate:
        match = _PERCENT.match(value) if isinstance(value, str) else None
        if match is None or float(match.group(1)) > 100:
            report.error(path, "a rate's threshold is a percentage from 0% to 100%: write 20%")
            return None
        return float(match.group(1)) / 100
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        report.error(path, "a count's threshold is a whole number, 0 or more")
        return None
    return float(value)


def rules_problems(path: Path, display: str | None = None) -> list[Problem]:
    """Every problem of the rules file (empty: it is valid)."""
    try:
        load_rules(path, display)
    except PolicyError as exc:
        return exc.problems
    return []
