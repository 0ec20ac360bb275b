"""Policy-test coverage: which states, transitions, timers and decision rows the scenarios reached.

Counted per loop (case type), over every policy of that type, so an override adds only what it
changes to the list of things to reach.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from policy_engine.engine import (
    DecisionEntry,
    EscalationEntry,
    SlaEntry,
    TimerEntry,
    TransitionEntry,
    Via,
    sla_via,
    typed_entry,
)
from policy_engine.language import Policy, PolicySet, targets
from policy_engine.testing.simulator import SimulationResult

Item = tuple[str, str]  # (kind, description), kind in state | transition | timer | decision

# Each item's text is built here once, for both what a policy has and what a test reached.


def _state(name: str) -> Item:
    return ("state", name)


def _opening(target: str) -> Item:
    return ("transition", f"open -> {target}")


def _move(source: str, via: Via | str, target: str) -> Item:
    """A move from `source` (`*`: any open state) by an event, a timer or an SLA clock's handler."""
    return ("transition", f"{source} --{via}--> {target}")


def _state_timer(state: str, timer: str) -> Item:
    return ("timer", f"{state}.{timer}")


def _clock_timer(clock: str, which: Literal["warning", "breach"]) -> Item:
    return ("timer", sla_via(clock, which))


def _ladder_level(ladder: str, level: int) -> Item:
    return ("timer", f"escalation {ladder} level {level}")


def _decision_row(table: str, rule: str) -> Item:
    return ("decision", f"{table}: {rule}")


def policy_items(policy: Policy) -> set[Item]:
    """Everything a test should reach in one policy."""
    items: set[Item] = set()
    for name in policy.states:
        items.add(_state(name))
    for target in targets(policy.open):
        items.add(_opening(target))
    for state_name, state in policy.states.items():
        for event, handler in state.on.items():
            for target in targets(handler):
                items.add(_move(state_name, event, target))
        for timer_name, timer in state.timers.items():
            items.add(_state_timer(state_name, timer_name))
            for target in targets(timer):
                items.add(_move(state_name, timer_name, target))
        if not state.terminal:
            for event, handler in policy.any_state.items():
                for target in targets(handler):
                    items.add(_move("*", event, target))
    for clock_name, clock in policy.sla.items():
        items.add(_clock_timer(clock_name, "breach"))
        if clock.warn_at is not None:
            items.add(_clock_timer(clock_name, "warning"))
        for target in targets(clock.on_breach):
            items.add(_move("*", sla_via(clock_name, "breach"), target))
    for ladder_name, ladder in policy.escalations.items():
        for level in ladder.levels:
            items.add(_ladder_level(ladder_name, level.level))
    for table_name, table in policy.decisions.items():
        for rule in table.rules:
            items.add(_decision_row(table_name, rule.id))
    return items


def reached_items(result: SimulationResult) -> set[Item]:
    """Everything one scenario's run reached, read from its timeline."""
    items: set[Item] = set()
    for entry in map(typed_entry, result.timeline):
        if isinstance(entry, TransitionEntry) and entry.detail.to:
            move = entry.detail
            target = entry.detail.to
            items.add(_state(target))
            via = move.via if move.via is not None else ""
            if not move.from_:
                items.add(_opening(target))
            elif isinstance(via, Via) and via.kind == "sla":
                # An SLA clock's handler runs in whatever state the case is in.
                items.add(_move("*", via, target))
            else:
                # An event handled in `any_state` is counted there as well as in its state.
                items.add(_move(move.from_, via, target))
                items.add(_move("*", via, target))
        elif isinstance(entry, TimerEntry) and entry.detail.state:
            items.add(_state_timer(entry.detail.state, entry.name))
        elif isinstance(entry, SlaEntry) and entry.detail.status == "breached":
            items.add(_clock_timer(entry.name, "breach"))
        elif isinstance(entry, SlaEntry) and entry.detail.status == "warning":
            items.add(_clock_timer(entry.name, "warning"))
        elif isinstance(entry, EscalationEntry) and entry.detail.level:
            items.add(_ladder_level(entry.name, entry.detail.level))
        elif isinstance(entry, DecisionEntry) and entry.detail.rule:
            items.add(_decision_row(entry.name, entry.detail.rule))
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
