"""Which merchants cross a risk rule in the window ending at a given time, and the figures that did it.

Pure given (ledger, rules, as_of): the window is [as_of - rules.window, as_of), the figures come from
the cases opened in it, and the result is in merchant order, so a late or repeated check for the same
time finds the same merchants with the same figures.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from risk.figures import MerchantFigures, merchant_figures
from risk.rules import RiskRules, Rule


@dataclass(frozen=True)
class Crossing:
    """One rule a merchant crossed, and the value of the figure it tests."""

    rule: Rule
    value: float

    def as_data(self) -> dict[str, Any]:
        return {
            "rule": self.rule.id,
            "figure": self.rule.figure,
            "value": round(self.value, 4),
            "test": self.rule.explain(),
        }


@dataclass(frozen=True)
class Flagged:
    figures: MerchantFigures
    crossed: tuple[Crossing, ...]

    @property
    def merchant(self) -> str:
        return self.figures.merchant


@dataclass(frozen=True)
class Check:
    """A check's window and everything it found."""

    start: dt.datetime
    end: dt.datetime
    merchants: tuple[MerchantFigures, ...]  # every merchant with a case in the window
    flagged: tuple[Flagged, ...]  # those that crossed a rule


def window_ending(rules: RiskRules, as_of: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    return as_of - rules.window, as_of


def crossings(figures: MerchantFigures, rules: RiskRules) -> tuple[Crossing, ...]:
    """The rules `figures` cross; a rate rule only with `min_cases` cases, and only a rate that exists."""
    found = []
    for rule in rules.rules:
        if rule.is_rate and figures.cases < rules.min_cases:
            continue
        value = figures.figure(rule.figure)
        if value is not None and rule.crossed_by(value):
            found.append(Crossing(rule, value))
    return tuple(found)


def check(engine: sa.Engine, rules: RiskRules, as_of: dt.datetime) -> Check:
    """Every merchant's figures in the window ending at `as_of` (aware), and those that cross a rule."""
    start, end = window_ending(rules, as_of)
    with engine.connect() as db:
        merchants = merchant_figures(db, start, end)
    flagged = []
    for figures in merchants:
        crossed = crossings(figures, rules)
        if crossed:
            flagged.append(Flagged(figures, crossed))
    return Check(start, end, tuple(merchants), tuple(flagged))
