"""The state graph of a policy: every state reachable from `open`, every open state with a way out."""

from __future__ import annotations

from policy_engine.language.model import Policy
from policy_engine.language.walk import targets
from policy_engine.language.yamlsource import Reporter


def check_reachability(policy: Policy, report: Reporter) -> None:
    """States `open` cannot lead to, and states that are not terminal but have no way out."""
    edges: dict[str, set[str]] = {name: set() for name in policy.states}
    # Moves that can happen in any open state: the opening's targets and the SLA handlers'.
    global_targets: set[str] = set(targets(policy.open))
    for clock in policy.sla.values():
        for handler in (clock.on_warn, clock.on_breach):
            global_targets.update(targets(handler))
    any_targets: set[str] = set()
    for handler in policy.any_state.values():
        any_targets.update(targets(handler))
    for state_name, state in policy.states.items():
        for handler in state.on.values():
            edges[state_name].update(targets(handler))
        for timer in state.timers.values():
            edges[state_name].update(targets(timer))
        edges[state_name].update(targets(state.on_enter))
        if not state.terminal:
            edges[state_name].update(any_targets)
    seen: set[str] = set()
    frontier = [target for target in targets(policy.open) if target in policy.states]
    while frontier:
        name = frontier.pop()
        if name in seen:
            continue
        seen.add(name)
        successors = edges[name] | {target for target in global_targets if _clock_runs_in(policy, name)}
        frontier.extend(target for target in successors if target in policy.states and target not in seen)
    for state_name, state in policy.states.items():
        if state_name not in seen:
            report.error(("states", state_name), f"state '{state_name}' cannot be reached from `open`", at_key=True)
        elif not state.terminal:
            exits = (edges[state_name] | _breach_exits(policy, state_name)) - {state_name}
            if not exits:
                report.error(
                    ("states", state_name),
                    f"state '{state_name}' is not terminal but has no way out: add an event, a timer "
                    "or `terminal: true`",
                    at_key=True,
                )


def _clock_runs_in(policy: Policy, state: str) -> bool:
    return bool(policy.sla) and not policy.states[state].terminal


def _breach_exits(policy: Policy, state: str) -> set[str]:
    """Where an SLA breach may move the case from `state` (no clock runs in its stop or pause states)."""
    out: set[str] = set()
    for clock in policy.sla.values():
        if state in clock.stop or state in clock.pause:
            continue
        out.update(targets(clock.on_breach))
    return out
