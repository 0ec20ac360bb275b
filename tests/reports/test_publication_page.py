"""A week's publication from the ledger, on both databases: its headline against an independent count, its page."""

from __future__ import annotations

import json

import pytest

from ledger.store import Ledger
from reports import build_report
from reports.periods import window_before
from reports.publication import as_html, as_json, publication_of
from reports.targets import load_targets, targets_path
from tests.conftest import POLICIES
from tests.reports.published import (
    CASES,
    SCHEDULED,
    WEEK_START,
    ZONE,
    expected_on_time,
    expected_satisfaction,
    in_week,
)
from tests.risk.test_watch import write


def test_a_weeks_headline_and_chart_count_the_weeks_cases(database_url: str) -> None:
    write(database_url, CASES)
    targets = load_targets(targets_path(POLICIES))
    window = window_before("weekly", SCHEDULED, ZONE)
    ledger = Ledger(database_url)
    try:
        sla, satisfaction, merchants = (
            build_report(ledger, kind, window.start, window.end, targets=targets, timezone=ZONE)
            for kind in ("sla", "satisfaction", "merchants")
        )
    finally:
        ledger.close()
    publication = publication_of(window, sla, satisfaction, merchants)
    on_time = {c.clock: c.figure for c in publication.headline.on_time}
    assert {clock: f.value for clock, f in on_time.items()} == pytest.approx(expected_on_time())
    assert {f.target for f in on_time.values()} == {targets.sla.on_time_rate}
    assert publication.headline.satisfaction is not None
    assert publication.headline.satisfaction.value == pytest.approx(
        expected_satisfaction(targets.satisfaction.satisfied_score)
    )
    (week,) = sla.charts.weekly  # a one-week window has one point
    decided = [status for case in filter(in_week, CASES) for status in case.clocks]
    assert (week.week, week.met, week.breached) == (WEEK_START, decided.count("met"), decided.count("breached"))
    assert {row.keys["merchant"] for row in merchants.rows} == {c.merchant for c in filter(in_week, CASES)}
    assert json.loads(as_json(publication))["headline"] == publication.headline.model_dump(mode="json")
    page = as_html(publication)
    assert page.count("<table>") == 3 and page.count("<svg") == 4
    assert "on-time rate, clock1 (calendar): 0.0% (target &gt;= 90%: missed)" in page
