"""SLA clocks in working days and business hours: the ledger counts their time in their own base.

Checked against the reference's count from the calendar file (tests/ledger/time_base_cases.py), for
cases held over a weekend and over National Day, and for any moments (Hypothesis); on both databases
for what the ledger keeps.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.ledger_activities import FactsBatch
from ledger.clock_time import seconds_in_base
from ledger.facts import facts_of
from ledger.opening import with_calendar
from ledger.simulated import simulated_opening
from ledger.store import Ledger
from policy_engine.engine import Actor, EventIn, OpenCase, open_case, step
from policy_engine.language import PolicySet
from policy_engine.testing import Scenario, SimulationResult
from tests.ledger.time_base_cases import CASES, OVER_A_WEEKEND, PROBE, REVIEW_DAYS, HeldCase, at
from tests.policy_engine.engine.oracle_reference import instants, working_days_end

COUNTED = ("target_seconds", "running_seconds", "paused_seconds")
HOUR = 3600


def _counted(row: dict[str, object]) -> dict[str, object]:
    return {name: row[name] for name in COUNTED}


def test_a_clock_held_over_a_weekend_counts_business_hours_and_working_days() -> None:
    case = OVER_A_WEEKEND.run()
    clocks = facts_of(OVER_A_WEEKEND.opening(case), case.timeline).clocks
    # Fri 16-18 and Tue 9-12 ran (Mon 9-18 was held), of 12 business hours; elapsed it would be 79 h.
    assert _counted(clocks["reply"]) == {
        "target_seconds": 12 * HOUR,
        "running_seconds": 5 * HOUR,
        "paused_seconds": 9 * HOUR,
    }
    # Fri from 16:00, Mon to 07:00 and from 20:00, Tue to noon ran, of Fri's 8 h and two whole working days.
    assert _counted(clocks["review"]) == {
        "target_seconds": 56 * HOUR,
        "running_seconds": 31 * HOUR,
        "paused_seconds": 13 * HOUR,
    }
    assert (clocks["reply"]["time_base"], clocks["review"]["time_base"]) == ("business_hours", "working_days")


def test_every_clock_counts_what_the_reference_counts() -> None:
    for held in CASES:
        case = held.run()
        clocks = facts_of(held.opening(case), case.timeline).clocks
        assert {name: _counted(row) for name, row in clocks.items()} == held.reference(), held.case_id
        assert {row["status"] for row in clocks.values()} == {"met"}


@settings(max_examples=60, deadline=None)
@given(
    opened=instants(dt.date(2026, 1, 1), dt.date(2027, 10, 31)),
    gaps=st.lists(st.integers(1, 6 * 86400), min_size=3, max_size=3),
)
def test_for_any_moments_the_rows_are_the_reference_s(opened: dt.datetime, gaps: list[int]) -> None:
    held_at = opened + dt.timedelta(seconds=gaps[0])
    resumed = held_at + dt.timedelta(seconds=gaps[1])
    held = HeldCase("TB-9", "M-9", opened, held_at, resumed, resumed + dt.timedelta(seconds=gaps[2]))
    case = held.run()
    clocks = facts_of(held.opening(case), case.timeline).clocks
    assert {name: _counted(row) for name, row in clocks.items()} == held.reference()


def _finished_at_the_review_due(held: HeldCase) -> HeldCase:
    """`held`, finished when the engine says its working-day clock falls due after the pause."""
    agent = Actor(role="agent", id="A-1")
    opening = OpenCase(
        case_id=held.case_id, case_type="probe_time_bases", data={"merchant": held.merchant}, at=held.opened
    )
    case = open_case(PROBE, opening).state
    for name, moment in (("hold", held.held), ("go_on", held.resumed)):
        case = step(PROBE, case, EventIn(name=name, actor=agent, at=moment)).state
    due = case.sla["review"].due
    assert due is not None
    return dataclasses.replace(held, finished=due)


def _review_used(held: HeldCase) -> tuple[object, object, object]:
    case = held.run()
    row = facts_of(held.opening(case), case.timeline).clocks["review"]
    return row["status"], row["running_seconds"], row["target_seconds"]


def test_a_working_day_clock_met_at_its_due_after_a_pause_used_all_of_its_target() -> None:
    """The engine keeps a paused working-day clock's time left in working-day time, as the ledger
    counts it: held over a weekend or over National Day, met at its new due time, it used 100 %."""
    for held in CASES:
        status, running, target = _review_used(_finished_at_the_review_due(held))
        assert (status, running) == ("met", target), held.case_id
    # Over the weekend: Fri from 16:00 and Mon to 07:00 ran; 41 h were left, from Mon 20:00 to Wed 13:00.
    assert _finished_at_the_review_due(OVER_A_WEEKEND).finished == at("2026-11-11 13:00")


@settings(max_examples=60, deadline=None)
@given(
    opened=instants(dt.date(2026, 1, 1), dt.date(2027, 10, 31)),
    gaps=st.lists(st.integers(0, 6 * 86400), min_size=2, max_size=2),
)
def test_for_any_pause_a_clock_met_at_its_due_used_all_of_its_target(opened: dt.datetime, gaps: list[int]) -> None:
    due = working_days_end(opened, REVIEW_DAYS)
    held_at = min(opened + dt.timedelta(seconds=gaps[0]), due - dt.timedelta(seconds=1))
    resumed = held_at + dt.timedelta(seconds=gaps[1])
    held = _finished_at_the_review_due(HeldCase("TB-8", "M-8", opened, held_at, resumed, resumed))
    status, running, target = _review_used(held)
    assert (status, running) == ("met", target)


def test_the_ledger_keeps_the_counted_time_on_either_database(ledger: Ledger) -> None:
    for held in CASES:
        case = held.run()
        opening = held.opening(case)
        middle = len(case.timeline) // 2  # the clocks are folded on from the rows the first batch wrote
        ledger.record(opening, case.timeline[:middle])
        ledger.record(opening, case.timeline[middle:], middle)
    with ledger.engine.connect() as db:
        rows = db.execute(
            sa.text("SELECT case_id, clock, target_seconds, running_seconds, paused_seconds FROM sla_clocks")
        )
        kept = {(row.case_id, row.clock): dict(zip(COUNTED, row[2:], strict=True)) for row in rows}
    assert kept == {(held.case_id, clock): counted for held in CASES for clock, counted in held.reference().items()}


def test_the_opening_carries_the_calendar_only_when_a_clock_counts_in_it(
    policy_set: PolicySet, simulated: list[tuple[Scenario, SimulationResult]]
) -> None:
    scenario, result = next((s, r) for s, r in simulated if r.error is None)
    plain = simulated_opening(policy_set, scenario, result)
    assert plain is not None and plain.calendar is None
    # A default policy's batches are the same bytes as before openings carried a calendar.
    converter = pydantic_data_converter.payload_converter  # as the workflow sends `record_facts` its batch
    [payload] = converter.to_payloads([FactsBatch(opening=plain, first_seq=0, entries=[])])
    assert "calendar" not in json.loads(payload.data)["opening"]
    case = OVER_A_WEEKEND.run()
    opening = OVER_A_WEEKEND.opening(case)
    assert opening.calendar is not None and opening.calendar.timezone == "Asia/Shanghai"
    [sent] = converter.from_payloads(
        converter.to_payloads([FactsBatch(opening=opening, first_seq=0, entries=[])]), [FactsBatch]
    )
    assert sent.opening == opening


def test_an_opening_from_before_gets_its_calendar_from_the_pinned_policy() -> None:
    case = OVER_A_WEEKEND.run()
    opening = OVER_A_WEEKEND.opening(case)
    earlier = opening.model_copy(update={"calendar": None})  # as a case opened before carried it
    assert with_calendar(earlier, PROBE) == opening
    # Until then (a batch sent before the upgrade), time is elapsed, as it was.
    clocks = facts_of(earlier, case.timeline).clocks
    assert clocks["reply"]["running_seconds"] == (63 + 16) * HOUR


def test_a_year_the_calendar_does_not_cover_counts_by_the_usual_week() -> None:
    calendar = OVER_A_WEEKEND.opening(OVER_A_WEEKEND.run()).calendar
    # Friday 31 December 2027 from noon to Monday 3 January 2028 at noon: 2028 is not in the calendar.
    start, end = at("2027-12-31 12:00"), at("2028-01-03 12:00")
    assert seconds_in_base("business_hours", calendar, start, end) == (6 + 3) * HOUR
    assert seconds_in_base("working_days", calendar, start, end) == (12 + 12) * HOUR
    assert seconds_in_base("calendar", calendar, start, end) == 72 * HOUR
