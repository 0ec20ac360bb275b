"""Simulated cases into the ledger (`aftersales simulate --record-to`): the worker's `Ledger.record` path.

A simulation's result carries the timeline but not the case; the opening's facts are computed again
from the scenario and the decisions its timeline took, as the worker computes them from the case.
"""

from __future__ import annotations

from ledger.opening import CaseOpening, opening_of
from ledger.store import Ledger
from policy_engine.engine import CaseState, DecisionEntry, DecisionTaken, typed_entry
from policy_engine.language import PolicySet
from policy_engine.testing import Scenario, SimulationResult


def simulated_opening(policy_set: PolicySet, scenario: Scenario, result: SimulationResult) -> CaseOpening | None:
    """The opening of a simulated case; None when it never opened (no policy selected it, or it was refused)."""
    if result.error is not None or not result.policy_id:
        return None
    resolved = policy_set.select(scenario.case_type, scenario.data, scenario.opened_at)
    decisions: dict[str, DecisionTaken] = {}
    for raw in result.timeline:
        entry = typed_entry(raw)
        if isinstance(entry, DecisionEntry) and entry.detail.rule is not None:
            decisions[entry.name] = DecisionTaken(
                rule=entry.detail.rule, outputs=entry.detail.outputs or {}, at=entry.at
            )
    case = CaseState(
        case_id=result.case_id,
        case_type=result.case_type,
        policy_id=result.policy_id,
        policy_version=result.policy_version,
        opened_at=scenario.opened_at,
        state=result.final_state,
        entered_at=scenario.opened_at,
        closed=result.closed,
        data=scenario.data,
        decisions=decisions,
    )
    return opening_of(resolved, case)


def record_simulated(ledger: Ledger, policy_set: PolicySet, scenario: Scenario, result: SimulationResult) -> int:
    """Write one simulated case; the number of rows its facts make (0: the case never opened)."""
    opening = simulated_opening(policy_set, scenario, result)
    if opening is None:
        return 0
    return ledger.record(opening, result.timeline).count()
