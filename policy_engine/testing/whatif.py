"""What-if comparison: the same scenarios under two policy sets, reduced to what an operator cares
about (final state, actions, SLA results, decisions), scenario by scenario."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from policy_engine.testing.simulator import SimulationResult


class FieldChange(BaseModel):
    field: str
    old: str
    new: str


class ScenarioChange(BaseModel):
    scenario: str
    case_id: str
    changes: list[FieldChange] = Field(default_factory=list)


class CompareReport(BaseModel):
    total: int
    changed: list[ScenarioChange] = Field(default_factory=list)

    @property
    def unchanged(self) -> int:
        return self.total - len(self.changed)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _action_counts(types: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for action_type in types:
        counts[action_type] = counts.get(action_type, 0) + 1
    return counts


def compare_results(old: list[SimulationResult], new: list[SimulationResult]) -> CompareReport:
    """Scenario by scenario (the same scenarios, in the same order), what changed in the outcome."""
    report = CompareReport(total=len(old))
    for before, after in zip(old, new, strict=True):
        was, now = before.summary(), after.summary()
        changes: list[FieldChange] = []
        for key in ("final_state", "closed", "error", "policy_errors", "escalation_level", "rejected_events"):
            if was[key] != now[key]:
                changes.append(FieldChange(field=key, old=_show(was[key]), new=_show(now[key])))
        counted_was, counted_now = _action_counts(was["actions"]), _action_counts(now["actions"])
        if counted_was != counted_now:
            gone = {k: v - counted_now.get(k, 0) for k, v in counted_was.items() if v > counted_now.get(k, 0)}
            added = {k: v - counted_was.get(k, 0) for k, v in counted_now.items() if v > counted_was.get(k, 0)}
            changes.append(
                FieldChange(field="actions", old=_show(gone) if gone else "-", new=_show(added) if added else "-")
            )
        for clock in sorted(set(was["sla"]) | set(now["sla"])):
            if was["sla"].get(clock) != now["sla"].get(clock):
                changes.append(
                    FieldChange(
                        field=f"sla {clock}", old=_show(was["sla"].get(clock)), new=_show(now["sla"].get(clock))
                    )
                )
        for table in sorted(set(was["decisions"]) | set(now["decisions"])):
            if was["decisions"].get(table) != now["decisions"].get(table):
                changes.append(
                    FieldChange(
                        field=f"decision {table}",
                        old=_show(was["decisions"].get(table)),
                        new=_show(now["decisions"].get(table)),
                    )
                )
        if changes:
            report.changed.append(
                ScenarioChange(scenario=before.file or before.case_id, case_id=before.case_id, changes=changes)
            )
    return report
