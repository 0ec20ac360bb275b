"""The ledger activity in Temporal's activity environment: batches after each step, retried, written once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from temporalio.testing import ActivityEnvironment

from activities.ledger_activities import FactsBatch, LedgerActivities
from ledger.simulated import simulated_opening
from ledger.store import Ledger
from policy_engine.language import PolicySet
from policy_engine.testing import Scenario, SimulationResult

Simulated = list[tuple[Scenario, SimulationResult]]


def _batches(policy_set: PolicySet, scenario: Scenario, result: SimulationResult, size: int) -> list[FactsBatch]:
    opening = simulated_opening(policy_set, scenario, result)
    assert opening is not None
    return [
        FactsBatch(opening=opening, first_seq=start, entries=result.timeline[start : start + size])
        for start in range(0, len(result.timeline), size)
    ]


def _table(ledger: Ledger, query: str) -> list[tuple[object, ...]]:
    with ledger.engine.connect() as db:
        return [tuple(row) for row in db.execute(sa.text(query))]


def test_batches_sent_twice_each_write_the_case_once(
    ledger: Ledger, policy_set: PolicySet, simulated: Simulated
) -> None:
    [(scenario, result)] = [(s, r) for s, r in simulated if s.case_id == "CP-3006"]
    activities, env = LedgerActivities(ledger), ActivityEnvironment()
    for batch in _batches(policy_set, scenario, result, size=4):
        env.run(activities.record_facts, batch)
        env.run(activities.record_facts, batch)  # a retry: same facts, nothing new
    assert _table(ledger, "SELECT final_state FROM cases") == [("referred_to_regulator",)]
    assert _table(ledger, "SELECT kind FROM referrals ORDER BY seq") == [("mediation",), ("regulator",)]
    assert _table(ledger, "SELECT clock, status, running_seconds, paused_seconds FROM sla_clocks ORDER BY clock") == [
        ("acknowledge", "met", 3600, 0),
        ("resolve", "met", 3 * 3600, 2 * 3600),
    ]
    transitions = sum(1 for e in result.timeline if e["kind"] == "transition")
    assert _table(ledger, "SELECT COUNT(*) FROM transitions") == [(transitions,)]


def test_an_old_batch_retried_after_a_newer_one_moves_nothing_back(
    ledger: Ledger, policy_set: PolicySet, simulated: Simulated
) -> None:
    [(scenario, result)] = [(s, r) for s, r in simulated if s.case_id == "CP-3006"]
    activities, env = LedgerActivities(ledger), ActivityEnvironment()
    batches = _batches(policy_set, scenario, result, size=6)
    for batch in batches:
        env.run(activities.record_facts, batch)
    before = _table(ledger, "SELECT * FROM sla_clocks ORDER BY clock")
    env.run(activities.record_facts, batches[1])  # a late retry of an early step
    assert _table(ledger, "SELECT * FROM sla_clocks ORDER BY clock") == before


def test_a_batch_with_a_negative_position_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as refused:
        FactsBatch.model_validate({"opening": {}, "first_seq": -1, "entries": []})
    assert "first_seq" in str(refused.value)
