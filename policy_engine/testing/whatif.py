"""What-if comparison: the same scenarios under two policy sets, reduced to what an operator cares
about (final state, actions, money paid, SLA results, decisions), scenario by scenario and in total."""

from __future__ import annotations

import json
from decimal import Decimal
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


class MoneyTotal(BaseModel):
    """What the actions of one type (refund, advance_payment) pay over all scenarios, under each set."""

    action: str
    old: str
    new: str


class CompareReport(BaseModel):
    total: int
    changed: list[ScenarioChange] = Field(default_factory=list)
    money: list[MoneyTotal] = Field(default_factory=list)

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
    paid_was: dict[str, Decimal] = {}
    paid_now: dict[str, Decimal] = {}
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
        for kind in sorted(set(was["amounts"]) | set(now["amounts"])):
            old_amount, new_amount = was["amounts"].get(kind), now["amounts"].get(kind)
            paid_was[kind] = paid_was.get(kind, Decimal(0)) + Decimal(old_amount or 0)
            paid_now[kind] = paid_now.get(kind, Decimal(0)) + Decimal(new_amount or 0)
            if old_amount != new_amount:
                changes.append(FieldChange(field=f"{kind} amount", old=old_amount or "-", new=new_amount or "-"))
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
    report.money = [
        MoneyTotal(action=kind, old=f"{paid_was[kind]:.2f}", new=f"{paid_now[kind]:.2f}") for kind in sorted(paid_was)
    ]
    return report
