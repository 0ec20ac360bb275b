"""Policy-test coverage: which states, transitions, timers and decision rows the scenarios reached.

Counted per loop (case type), over every policy of that type, so an override adds only what it
changes to the list of things to reach.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from policy_engine.model import Handler, Policy
from policy_engine.selection import PolicySet
from policy_engine.simulator import SimulationResult

Item = tuple[str, str]  # (kind, description), kind in state | transition | timer | decision


def _targets(handler: Handler | None) -> set[str]:
    if handler is None:
        return set()
    return {b.goto for b in handler.branches if b.goto is not None}


def policy_items(policy: Policy) -> set[Item]:
    """Everything a test should reach in one policy."""
    items: set[Item] = set()
    for name in policy.states:
        items.add(("state", name))
    for target in _targets(policy.open):
        items.add(("transition", f"open -> {target}"))
    for sname, state in policy.states.items():
        for ename, handler in state.on.items():
            for target in _targets(handler):
                items.add(("transition", f"{sname} --{ename}--> {target}"))
        for tname, timer in state.timers.items():
            items.add(("timer", f"{sname}.{tname}"))
            for target in _targets(timer):
                items.add(("transition", f"{sname} --{tname}--> {target}"))
        if not state.terminal:
            for ename, handler in policy.any_state.items():
                for target in _targets(handler):
                    items.add(("transition", f"* --{ename}--> {target}"))
    for cname, clock in policy.sla.items():
        items.add(("timer", f"sla {cname} breach"))
        if clock.warn_at is not None:
            items.add(("timer", f"sla {cname} warning"))
        for target in _targets(clock.on_breach):
            items.add(("transition", f"* --sla {cname} breach--> {target}"))
    for lname, ladder in policy.escalations.items():
        for level in ladder.levels:
            items.add(("timer", f"escalation {lname} level {level.level}"))
    for dname, table in policy.decisions.items():
        for rule in table.rules:
            items.add(("decision", f"{dname}: {rule.id}"))
    return items


def reached_items(result: SimulationResult) -> set[Item]:
    items: set[Item] = set()
    previous = "open"
    for entry in result.timeline:
        d = entry.get("detail", {})
        kind = entry.get("kind")
        name = entry.get("name", "")
        if kind == "transition" and d.get("to"):
            items.add(("state", d["to"]))
            via = d.get("via", "")
            source = d.get("from") or "open"
            if source == "open" and not d.get("from"):
                items.add(("transition", f"open -> {d['to']}"))
            elif via.startswith("sla "):
                items.add(("transition", f"* --{via}--> {d['to']}"))
            else:
                items.add(("transition", f"{source} --{via}--> {d['to']}"))
                items.add(("transition", f"* --{via}--> {d['to']}"))
            previous = d["to"]
        elif kind == "timer" and d.get("state"):
            items.add(("timer", f"{d['state']}.{name}"))
        elif kind == "sla" and d.get("status") == "breached":
            items.add(("timer", f"sla {name} breach"))
        elif kind == "sla" and d.get("status") == "warning":
            items.add(("timer", f"sla {name} warning"))
        elif kind == "escalation" and d.get("level"):
            items.add(("timer", f"escalation {name} level {d['level']}"))
        elif kind == "decision" and d.get("rule"):
            items.add(("decision", f"{name}: {d['rule']}"))
    del previous
    return items


@dataclass
class LoopCoverage:
    case_type: str
    expected: set[Item] = field(default_factory=set)
    reached: set[Item] = field(default_factory=set)

    @property
    def missing(self) -> list[Item]:
        return sorted(self.expected - self.reached)

    @property
    def percent(self) -> float:
        if not self.expected:
            return 100.0
        return 100.0 * len(self.expected & self.reached) / len(self.expected)


def coverage(policy_set: PolicySet, results: Iterable[SimulationResult]) -> list[LoopCoverage]:
    loops: dict[str, LoopCoverage] = {}
    for resolved in policy_set.policies.values():
        loop = loops.setdefault(resolved.case_type, LoopCoverage(resolved.case_type))
        loop.expected |= policy_items(resolved.policy)
    for result in results:
        reached = loops.get(result.case_type)
        if reached is not None:
            reached.reached |= reached_items(result)
    return [loops[k] for k in sorted(loops)]
