"""Every figure of every report against a plain-Python computation over the generated ledger, on both databases."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ledger.store import Ledger
from reports import Targets, build_report, render
from reports.model import GroupBy, Report, ReportKind
from tests.reports.generated import Generated, generate, write

ZONE = "Asia/Shanghai"
START, END = dt.date(2026, 11, 2), dt.date(2026, 11, 30)
SATISFIED = 4


@pytest.fixture
def generated(ledger: Ledger) -> Generated:
    data = generate(seed=15, n=600, first=dt.datetime(2026, 10, 28, tzinfo=dt.UTC), days=40)
    write(ledger, data)
    return data


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(ZONE))


def _inside(data: Generated) -> dict[str, dict[str, Any]]:
    """The cases opened in the window, by id."""
    low, high = _midnight(START), _midnight(END)
    return {c["case_id"]: c for c in data.cases if low <= c["opened_at"] < high}


def _name(value: Any) -> str:
    return "(none)" if value is None else str(value)


def _nearest_rank(values: list[int], percent: int) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(percent * len(ordered) / 100) - 1] / 3600


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _assert_same(report: Report, expected: dict[tuple[str, ...], dict[str, Any]]) -> None:
    actual = _figures(report)
    assert sorted(actual) == sorted(expected)
    for key, figures in expected.items():
        assert actual[key] == pytest.approx(figures), key


def _figures(report: Report) -> dict[tuple[str, ...], dict[str, Any]]:
    """Each row as one flat mapping: counts, hours and figure values, by its keys."""
    return {
        tuple(row.keys.values()): {**row.counts, **row.hours, **{f.name: f.value for f in row.figures}}
        for row in report.rows
    }


@pytest.mark.parametrize("by", [None, "merchant", "priority"])
def test_sla_figures_match_a_plain_computation(ledger: Ledger, generated: Generated, by: GroupBy | None) -> None:
    inside = _inside(generated)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for clock in generated.clocks:
        case = inside.get(clock["case_id"])
        if case is not None:
            key = (clock["clock"], clock["time_base"], *([_name(case[by])] if by else []))
            groups[key].append(clock)
    expected = {}
    for key, clocks in groups.items():
        met = sum(c["status"] == "met" for c in clocks)
        breached = sum(c["status"] == "breached" for c in clocks)
        handled = [c["running_seconds"] for c in clocks if c["status"] in ("met", "breached") and c["ended_at"]]
        expected[key] = {
            "cases": len({c["case_id"] for c in clocks}),
            "clocks": len(clocks),
            "met": met,
            "breached": breached,
            "running": sum(c["status"] in ("running", "paused") for c in clocks),
            "stopped": sum(c["status"] == "stopped" for c in clocks),
            "handled": len(handled),
            "median": _nearest_rank(handled, 50) if handled else None,
            "p90": _nearest_rank(handled, 90) if handled else None,
            "max": max(handled) / 3600 if handled else None,
            "on_time_rate": _ratio(met, met + breached),
        }

    report = build_report(ledger, "sla", START, END, by=by, timezone=ZONE)

    _assert_same(report, expected)
    assert len(expected) >= 4  # the generated data reaches every clock and time base


@pytest.mark.parametrize("by", [None, "category", "channel"])
def test_satisfaction_figures_match_a_plain_computation(
    ledger: Ledger, generated: Generated, by: GroupBy | None
) -> None:
    inside = _inside(generated)

    def group_of(case_id: str) -> tuple[str, ...]:
        return (_name(inside[case_id][by]),) if by else ()

    counts: dict[tuple[str, ...], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for case in inside.values():
        counts[group_of(case["case_id"])]["cases"] += 1
    for answer in generated.answers:
        if answer["case_id"] in inside:
            row = counts[group_of(answer["case_id"])]
            row["follow_ups"] += 1
            row["responded"] += answer["responded"]
            row["satisfied"] += answer["responded"] and answer["score"] >= SATISFIED
    for name, facts, kind in (
        ("escalated", generated.escalations, None),
        ("mediated", generated.referrals, "mediation"),
        ("referred", generated.referrals, "regulator"),
    ):
        for case_id in {f["case_id"] for f in facts if f["case_id"] in inside and f.get("kind", kind) == kind}:
            counts[group_of(case_id)][name] += 1
    names = ("cases", "follow_ups", "responded", "satisfied", "escalated", "mediated", "referred")
    expected = {
        key: {name: row[name] for name in names}
        | {
            "satisfaction_rate": _ratio(row["satisfied"], row["responded"]),
            "response_rate": _ratio(row["responded"], row["follow_ups"]),
        }
        for key, row in counts.items()
    }

    report = build_report(ledger, "satisfaction", START, END, by=by, timezone=ZONE)

    _assert_same(report, expected)


def test_merchant_figures_match_a_plain_computation(ledger: Ledger, generated: Generated) -> None:
    inside = _inside(generated)
    rows: dict[tuple[str, ...], dict[str, Any]] = defaultdict(lambda: defaultdict(int))
    for case in inside.values():
        row = rows[(_name(case["merchant"]),)]
        row["cases"] += 1
        row["complaints"] += case["case_type"] == "complaint"
    for clock in generated.clocks:
        if clock["case_id"] in inside:
            row = rows[(_name(inside[clock["case_id"]]["merchant"]),)]
            row["met"] += clock["status"] == "met"
            row["breached"] += clock["status"] == "breached"
    for answer in generated.answers:
        if answer["case_id"] in inside:
            row = rows[(_name(inside[answer["case_id"]]["merchant"]),)]
            row["responded"] += answer["responded"]
            row["satisfied"] += answer["responded"] and answer["score"] >= SATISFIED
    names = ("cases", "complaints", "met", "breached", "responded", "satisfied")
    expected = {
        key: {name: row[name] for name in names}
        | {
            "breach_rate": _ratio(row["breached"], row["met"] + row["breached"]),
            "satisfaction_rate": _ratio(row["satisfied"], row["responded"]),
            "complaint_share": _ratio(row["complaints"], row["cases"]),
        }
        for key, row in rows.items()
    }

    report = build_report(ledger, "merchants", START, END, timezone=ZONE)

    _assert_same(report, expected)


def test_charts_match_a_plain_computation(ledger: Ledger, generated: Generated) -> None:
    inside = _inside(generated)
    weeks = [START + dt.timedelta(days=7 * i) for i in range(4)]
    weekly = {week: [0, 0] for week in weeks}
    shares: dict[str, dict[str, list[float]]] = {"merchant": defaultdict(list), "category": defaultdict(list)}
    buckets = [0] * 21
    for clock in generated.clocks:
        case = inside.get(clock["case_id"])
        if case is None:
            continue
        week = max(w for w in weeks if _midnight(w) <= case["opened_at"])
        if clock["status"] in ("met", "breached"):
            weekly[week][clock["status"] == "breached"] += 1
        if clock["status"] in ("met", "breached") and clock["ended_at"] and clock["target_seconds"]:
            share = clock["running_seconds"] / clock["target_seconds"]
            for column, found in shares.items():
                found[_name(case[column])].append(share)
            buckets[min(20, math.floor(share * 10))] += 1

    report = build_report(ledger, "sla", START, END, timezone=ZONE)
    charts = report.charts

    assert [(p.week, p.met, p.breached) for p in charts.weekly] == [(w, *weekly[w]) for w in weeks]
    assert [b.clocks for b in charts.distribution] == buckets
    for column, slowest in (("merchant", charts.slowest_merchants), ("category", charts.slowest_categories)):
        averages = sorted(((sum(v) / len(v), name) for name, v in shares[column].items()), reverse=True)
        assert [s.name for s in slowest] == [name for _, name in averages][:10]
        assert [s.share_of_target for s in slowest] == pytest.approx([avg for avg, _ in averages][:10])


def test_every_figure_is_judged_against_its_target(ledger: Ledger, generated: Generated) -> None:
    strict = Targets.model_validate({"sla": {"on_time_rate": 0.5, "clocks": {"resolve": {"on_time_rate": 1.0}}}})

    report = build_report(ledger, "sla", START, END, targets=strict, timezone=ZONE)

    for row in report.rows:
        (figure,) = row.figures
        assert figure.target == (1.0 if row.keys["clock"] == "resolve" else 0.5)
        if figure.value is not None:
            assert figure.verdict == ("met" if figure.value >= figure.target else "missed")
    verdicts = {f.verdict for row in report.rows for f in row.figures}
    assert {"met", "missed"} <= verdicts


def test_an_empty_window_has_no_rows(ledger: Ledger, generated: Generated) -> None:
    report = build_report(ledger, "sla", dt.date(2030, 1, 1), dt.date(2030, 2, 1), timezone=ZONE)

    assert report.rows == []
    assert all(p.on_time_rate is None for p in report.charts.weekly)


@pytest.mark.parametrize("kind", ["sla", "satisfaction", "merchants"])
def test_a_report_without_charts_has_the_same_rows(ledger: Ledger, generated: Generated, kind: ReportKind) -> None:
    drawn = build_report(ledger, kind, START, END, timezone=ZONE)
    plain = build_report(ledger, kind, START, END, timezone=ZONE, charts=False)

    assert plain.charts is None and drawn.charts is not None
    assert plain.model_copy(update={"charts": drawn.charts}) == drawn
    with pytest.raises(ValueError, match="charts=True"):
        render(plain, "html")
    assert render(plain, "table") == render(drawn, "table")
    assert render(plain, "csv") == render(drawn, "csv")
