"""What-if comparison: the same scenarios under two policy sets, reduced to what an operator cares
about (final state, actions, SLA results, decisions), scenario by scenario."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from policy_engine.simulator import SimulationResult


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
    for t in types:
        counts[t] = counts.get(t, 0) + 1
    return counts


def compare_results(old: list[SimulationResult], new: list[SimulationResult]) -> CompareReport:
    report = CompareReport(total=len(old))
    for before, after in zip(old, new, strict=True):
        a, b = before.summary(), after.summary()
        changes: list[FieldChange] = []
        for key in ("final_state", "closed", "error", "policy_errors", "escalation_level", "rejected_events"):
            if a[key] != b[key]:
                changes.append(FieldChange(field=key, old=_show(a[key]), new=_show(b[key])))
        ca, cb = _action_counts(a["actions"]), _action_counts(b["actions"])
        if ca != cb:
            gone = {k: v - cb.get(k, 0) for k, v in ca.items() if v > cb.get(k, 0)}
            added = {k: v - ca.get(k, 0) for k, v in cb.items() if v > ca.get(k, 0)}
            changes.append(
                FieldChange(field="actions", old=_show(gone) if gone else "-", new=_show(added) if added else "-")
            )
        for clock in sorted(set(a["sla"]) | set(b["sla"])):
            if a["sla"].get(clock) != b["sla"].get(clock):
                changes.append(
                    FieldChange(field=f"sla {clock}", old=_show(a["sla"].get(clock)), new=_show(b["sla"].get(clock)))
                )
        for table in sorted(set(a["decisions"]) | set(b["decisions"])):
            if a["decisions"].get(table) != b["decisions"].get(table):
                changes.append(
                    FieldChange(
                        field=f"decision {table}",
                        old=_show(a["decisions"].get(table)),
                        new=_show(b["decisions"].get(table)),
                    )
                )
        if changes:
            report.changed.append(
                ScenarioChange(scenario=before.file or before.case_id, case_id=before.case_id, changes=changes)
            )
    return report
