"""facts_of on the timelines of the default policies' scenarios, checked against each scenario's `expect`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ledger.facts import Facts, facts_of
from ledger.simulated import simulated_opening
from policy_engine.language import PolicySet
from policy_engine.testing import Scenario, SimulationResult

Simulated = list[tuple[Scenario, SimulationResult]]


def _facts(policy_set: PolicySet, scenario: Scenario, result: SimulationResult) -> Facts:
    opening = simulated_opening(policy_set, scenario, result)
    assert opening is not None, scenario.file
    return facts_of(opening, result.timeline)


def _opened(simulated: Simulated) -> Simulated:
    return [(s, r) for s, r in simulated if r.error is None]


def test_every_clock_ends_as_the_scenario_expects(policy_set: PolicySet, simulated: Simulated) -> None:
    checked = 0
    for scenario, result in _opened(simulated):
        assert scenario.expect is not None
        clocks = _facts(policy_set, scenario, result).clocks
        for clock, status in scenario.expect.sla.items():
            if status == "pending":
                assert clock not in clocks, scenario.file
                continue
            assert clocks[clock]["status"] == status, f"{scenario.file}: {clock}"
            checked += 1
    assert checked >= 30  # the scenarios say how most clocks end: enough to mean something


def test_transitions_follow_the_states_the_scenario_visits(policy_set: PolicySet, simulated: Simulated) -> None:
    for scenario, result in _opened(simulated):
        assert scenario.expect is not None
        transitions = _facts(policy_set, scenario, result).rows["transitions"]
        entered = [row["to_state"] for row in transitions]
        visited = iter(entered)
        assert all(state in visited for state in scenario.expect.states_visited), scenario.file  # in order
        assert [row["seq"] for row in transitions] == sorted({row["seq"] for row in transitions})
        if scenario.expect.state is not None:
            assert entered[-1] == scenario.expect.state, scenario.file


def test_the_case_row_has_the_close_and_the_decisions_taken(policy_set: PolicySet, simulated: Simulated) -> None:
    for scenario, result in _opened(simulated):
        assert scenario.expect is not None
        facts = _facts(policy_set, scenario, result)
        if scenario.expect.closed is not None:
            assert (facts.case.get("closed_at") is not None) == scenario.expect.closed, scenario.file
        if scenario.expect.closed and scenario.expect.state:
            assert facts.case["final_state"] == scenario.expect.state
        taken = {row["decision"]: row["rule"] for row in facts.rows.get("decisions", [])}
        assert scenario.expect.decisions.items() <= taken.items(), scenario.file


def test_satisfaction_and_escalations_match_the_scenarios(policy_set: PolicySet, simulated: Simulated) -> None:
    scores, levels = 0, 0
    for scenario, result in _opened(simulated):
        assert scenario.expect is not None
        facts = _facts(policy_set, scenario, result)
        expected: Any = scenario.expect.records.get("satisfaction")
        if expected is not None:
            [row] = facts.rows["satisfaction"]
            assert row["responded"] == isinstance(expected, int), scenario.file
            assert row["score"] == (expected if isinstance(expected, int) else None)
            scores += 1
        if scenario.expect.escalation_level:
            climbed = [row["level"] for row in facts.rows["escalations"] if row["level"] is not None]
            assert max(climbed) == scenario.expect.escalation_level, scenario.file
            levels += 1
    assert scores >= 3 and levels >= 3


def test_the_complaint_opening_names_merchant_priority_category_and_channel(
    policy_set: PolicySet, simulated: Simulated
) -> None:
    [(scenario, result)] = [(s, r) for s, r in simulated if s.case_id == "CP-3006"]
    case = _facts(policy_set, scenario, result).case
    assert (case["merchant"], case["category"], case["channel"]) == ("M-5", "price_fraud", "phone")
    assert case["priority"] == "P2"  # decided at the opening (decisions.priority.level)
    assert case["opened_at"] == dt.datetime(2026, 11, 16, 2, tzinfo=dt.UTC)  # 10:00+08:00, kept in UTC


def test_mediation_then_regulator_are_two_referrals(policy_set: PolicySet, simulated: Simulated) -> None:
    [(scenario, result)] = [(s, r) for s, r in simulated if s.case_id == "CP-3006"]
    referrals = _facts(policy_set, scenario, result).rows["referrals"]
    assert [row["kind"] for row in referrals] == ["mediation", "regulator"]


def test_a_paused_clock_counts_its_pause_apart(policy_set: PolicySet, simulated: Simulated) -> None:
    # CP-3006: `resolve` runs 2 h, waits 1 h on the customer, runs 1 h, waits 1 h, runs to mediation at +5 h.
    [(scenario, result)] = [(s, r) for s, r in simulated if s.case_id == "CP-3006"]
    resolve = _facts(policy_set, scenario, result).clocks["resolve"]
    assert (resolve["running_seconds"], resolve["paused_seconds"]) == (3 * 3600, 2 * 3600)
    assert resolve["target_seconds"] == 48 * 3600  # P2
    assert resolve["status"] == "met"


@pytest.mark.parametrize("split", [1, 5, 17])
def test_a_timeline_written_in_batches_gives_the_same_rows(
    policy_set: PolicySet, simulated: Simulated, split: int
) -> None:
    for scenario, result in _opened(simulated):
        whole = _facts(policy_set, scenario, result)
        opening = simulated_opening(policy_set, scenario, result)
        assert opening is not None
        head = facts_of(opening, result.timeline[:split])
        tail = facts_of(opening, result.timeline[split:], split, head.clocks)
        for table, rows in whole.rows.items():
            assert head.rows.get(table, []) + tail.rows.get(table, []) == rows, scenario.file
        assert head.clocks | tail.clocks == whole.clocks, scenario.file


def test_a_batch_written_again_moves_no_clock(policy_set: PolicySet, simulated: Simulated) -> None:
    [(scenario, result)] = [(s, r) for s, r in simulated if s.case_id == "CP-3006"]
    opening = simulated_opening(policy_set, scenario, result)
    assert opening is not None
    once = facts_of(opening, result.timeline)
    again = facts_of(opening, result.timeline, 0, once.clocks)
    assert again.clocks == {}  # every clock entry was already folded in
