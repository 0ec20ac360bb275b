"""The SLA report of clocks in business hours and working days: times and shares of the target in the
clock's own base, as the reference counts them from the calendar file (tests/ledger/time_base_cases.py).
On both databases."""

from __future__ import annotations

import datetime as dt

import pytest

from ledger.store import Ledger
from reports import build_report
from tests.ledger.time_base_cases import CASES, OVER_A_HOLIDAY, OVER_A_WEEKEND

HOUR = 3600
START, END = dt.date(2026, 9, 1), dt.date(2026, 12, 1)  # both cases opened inside


@pytest.fixture
def recorded(ledger: Ledger) -> Ledger:
    for held in CASES:
        case = held.run()
        ledger.record(held.opening(case), case.timeline)
    return ledger


def test_the_times_to_handle_are_in_the_clock_s_time_base(recorded: Ledger) -> None:
    report = build_report(recorded, "sla", START, END)

    hours = {(row.keys["clock"], row.keys["time_base"]): row.hours for row in report.rows}
    for clock, base in (("reply", "business_hours"), ("review", "working_days")):
        # nearest rank of two handled clocks: the median is the shorter, the p90 the longer
        shorter, longer = sorted(held.reference()[clock]["running_seconds"] / HOUR for held in CASES)
        assert hours[(clock, base)] == {"median": shorter, "p90": longer, "max": longer}
    # 5 and 11 business hours: a weekend and National Day count nothing (elapsed: 79 h and 43 h)
    assert hours[("reply", "business_hours")]["max"] == 11


def test_the_share_of_the_target_is_of_the_clock_s_own_target(recorded: Ledger) -> None:
    charts = build_report(recorded, "sla", START, END).charts

    shares = {
        held.merchant: [c["running_seconds"] / c["target_seconds"] for c in held.reference().values()] for held in CASES
    }
    averages = {merchant: sum(found) / len(found) for merchant, found in shares.items()}
    slowest = [(s.name, s.share_of_target) for s in charts.slowest_merchants]
    assert slowest == [
        (OVER_A_HOLIDAY.merchant, pytest.approx(averages[OVER_A_HOLIDAY.merchant])),
        (OVER_A_WEEKEND.merchant, pytest.approx(averages[OVER_A_WEEKEND.merchant])),
    ]
    tenths = sorted(int(share * 10) for found in shares.values() for share in found)
    assert tenths == [4, 5, 6, 9]  # 5/12, 31/56, 33/55, 11/12 of the targets
    assert [bucket.low for bucket in charts.distribution if bucket.clocks for _ in range(bucket.clocks)] == [
        tenth / 10 for tenth in tenths
    ]
