"""The risk check on a generated ledger, against the same figures computed here from the generated rows."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

from ledger.schema import cases, satisfaction, sla_clocks
from ledger.store import Ledger
from risk.rules import COMPARISONS, RiskRules, Rule
from risk.watch import check

AS_OF = dt.datetime(2026, 12, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
CASE_TYPES = ("return", "refund_only", "repair", "complaint", "merchant_review")
CLOCK_STATUSES = ("met", "breached", "running", "paused", "stopped")

RULES = RiskRules(
    window=dt.timedelta(days=30),
    min_cases=8,
    rules=(
        Rule("many-complaints", "", "complaints", "at_least", 6),
        Rule("complaint-share", "", "complaint_rate", "at_least", 0.3),
        Rule("late-handling", "", "breach_rate", "above", 0.2),
        Rule("low-satisfaction", "", "satisfaction_rate", "below", 0.7),
    ),
    source="test",
)


@dataclass
class GeneratedCase:
    case_id: str
    merchant: str | None
    case_type: str
    opened_at: dt.datetime
    clocks: list[str] = field(default_factory=list)  # statuses
    answers: list[int | None] = field(default_factory=list)  # scores; None: no answer


def generate(seed: int, count: int) -> list[GeneratedCase]:
    """Cases from 50 days before AS_OF to 5 days after it, some at the window's very edges."""
    pick = random.Random(seed)
    start = AS_OF - dt.timedelta(days=50)
    edges = [AS_OF - RULES.window, AS_OF, AS_OF - dt.timedelta(microseconds=1)]
    generated = []
    for n in range(count):
        opened = edges[n] if n < len(edges) else start + dt.timedelta(seconds=pick.randrange(55 * 86400))
        case = GeneratedCase(
            case_id=f"G-{n}",
            merchant=None if pick.random() < 0.03 else f"M-{pick.randrange(12)}",
            case_type=pick.choice(CASE_TYPES),
            opened_at=opened,
            clocks=[pick.choice(CLOCK_STATUSES) for _ in range(pick.randrange(3))],
            answers=[pick.choice([None, 1, 2, 3, 4, 5, 5]) for _ in range(pick.randrange(2))],
        )
        generated.append(case)
    return generated


def write(url: str, generated: list[GeneratedCase]) -> None:
    ledger = Ledger(url)
    ledger.upgrade()
    at = AS_OF.astimezone(dt.UTC)
    with ledger.engine.begin() as db:
        db.execute(cases.insert(), [_case_row(c) for c in generated])
        clocks = [
            _clock_row(c.case_id, f"clock{i}", status, at) for c in generated for i, status in enumerate(c.clocks)
        ]
        if clocks:
            db.execute(sla_clocks.insert(), clocks)
        answers = [
            {"case_id": c.case_id, "seq": i + 1, "at": at, "responded": score is not None, "score": score}
            for c in generated
            for i, score in enumerate(c.answers)
        ]
        if answers:
            db.execute(satisfaction.insert(), answers)
    ledger.close()


def _case_row(case: GeneratedCase) -> dict[str, Any]:
    return {
        "case_id": case.case_id,
        "case_type": case.case_type,
        "merchant": case.merchant,
        "policy_id": "p",
        "policy_version": "v",
        "opened_at": case.opened_at.astimezone(dt.UTC),
    }


def _clock_row(case_id: str, clock: str, status: str, at: dt.datetime) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "clock": clock,
        "round": 1,
        "time_base": "calendar",
        "target_seconds": 3600,
        "started_at": at,
        "status": status,
        "running_seconds": 0,
        "paused_seconds": 0,
        "last_seq": 1,
    }


def expected_figures(generated: list[GeneratedCase]) -> dict[str, dict[str, Any]]:
    """The figures by their definitions (docs/risk.md), straight from the generated cases."""
    start = AS_OF - RULES.window
    out: dict[str, dict[str, Any]] = {}
    for case in generated:
        if case.merchant is None or case.case_type == "merchant_review" or not start <= case.opened_at < AS_OF:
            continue
        f = out.setdefault(
            case.merchant, {"cases": 0, "complaints": 0, "ended": 0, "breached": 0, "answers": 0, "satisfied": 0}
        )
        f["cases"] += 1
        f["complaints"] += case.case_type == "complaint"
        f["ended"] += sum(s in ("met", "breached") for s in case.clocks)
        f["breached"] += case.clocks.count("breached")
        f["answers"] += sum(s is not None for s in case.answers)
        f["satisfied"] += sum(s is not None and s >= 4 for s in case.answers)
    return out


def expected_flags(figures: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    flags: dict[str, list[str]] = {}
    for merchant, f in figures.items():
        values = {
            "complaints": f["complaints"],
            "complaint_rate": f["complaints"] / f["cases"],
            "breach_rate": f["breached"] / f["ended"] if f["ended"] else None,
            "satisfaction_rate": f["satisfied"] / f["answers"] if f["answers"] else None,
        }
        for rule in RULES.rules:
            value = values[rule.figure]
            judged = rule.figure == "complaints" or f["cases"] >= RULES.min_cases
            if judged and value is not None and COMPARISONS[rule.comparison](value, rule.threshold):
                flags.setdefault(merchant, []).append(rule.id)
    return flags


@pytest.mark.parametrize("seed", [1, 2])
def test_figures_and_flags_match_an_independent_computation(database_url: str, seed: int) -> None:
    generated = generate(seed, 600)
    write(database_url, generated)
    engine = sa.create_engine(database_url)
    try:
        found = check(engine, RULES, AS_OF)
    finally:
        engine.dispose()
    expected = expected_figures(generated)
    got = {
        f.merchant: {
            "cases": f.cases,
            "complaints": f.complaints,
            "ended": f.clocks_ended,
            "breached": f.clocks_breached,
            "answers": f.answers,
            "satisfied": f.satisfied,
        }
        for f in found.merchants
    }
    assert got == expected
    flags = expected_flags(expected)
    assert flags, "the generated ledger should make some merchant cross a rule"
    assert {flag.merchant: [c.rule.id for c in flag.crossed] for flag in found.flagged} == flags
    assert (found.start, found.end) == (AS_OF - RULES.window, AS_OF)


def test_a_merchant_with_few_cases_is_not_flagged_by_rates(database_url: str) -> None:
    # Two cases, both complaints, both breached and unsatisfied: every rate crosses its rule.
    few = [
        GeneratedCase(f"F-{n}", "M-small", "complaint", AS_OF - dt.timedelta(days=1), ["breached"], [1])
        for n in range(2)
    ]
    write(database_url, few)
    engine = sa.create_engine(database_url)
    try:
        found = check(engine, RULES, AS_OF)
        lowered = check(engine, RiskRules(RULES.window, 2, RULES.rules, "test"), AS_OF)
    finally:
        engine.dispose()
    assert [f.merchant for f in found.merchants] == ["M-small"]
    assert found.flagged == ()
    assert [c.rule.id for c in lowered.flagged[0].crossed] == ["complaint-share", "late-handling", "low-satisfaction"]


def test_the_same_time_gives_the_same_answer(database_url: str) -> None:
    write(database_url, generate(3, 200))
    engine = sa.create_engine(database_url)
    try:
        first = check(engine, RULES, AS_OF)
        again = check(engine, RULES, AS_OF.astimezone(dt.UTC))  # the same moment, written in another zone
    finally:
        engine.dispose()
    assert first == again
