"""The state machine of a policy as a Mermaid diagram, for operators and the docs."""

from __future__ import annotations

from policy_engine.language import Handler, Policy, SlaClock, Target, moves


def _arrows(handler: Handler | None) -> list[tuple[str, str]]:
    """(target state, condition) for each way a handler moves the case, in the order it tries them."""
    return [(move.target, move.condition or "") for move in moves(handler)]


def _label(text: str) -> str:
    # Mermaid labels may not hold ':' or quotes unescaped; keep them short and readable.
    return text.replace(":", " ").replace('"', "'").replace("\n", " ")


def _target_text(clock: SlaClock) -> str:
    target = clock.target
    if isinstance(target, Target):
        cases = ", ".join(f"{k} {v}" for k, v in target.cases.items())
        return f"{cases}, else {target.default}"
    return target


def mermaid(policy: Policy) -> str:
    """A `stateDiagram-v2`: events as plain arrows, timers with their delay, SLA breaches marked."""
    lines = ["stateDiagram-v2"]
    if policy.title:
        lines.insert(0, f"%% {policy.policy}: {policy.title}")
    for target, condition in _arrows(policy.open):
        lines.append(f"    [*] --> {target}" + (f" : {_label(condition)}" if condition else ""))
    for state_name, state in policy.states.items():
        for event, handler in state.on.items():
            roles = "/".join(policy.events[event].roles) if event in policy.events else "?"
            for target, condition in _arrows(handler):
                label = f"{event} ({roles})" + (f" if {condition}" if condition else "")
                lines.append(f"    {state_name} --> {target} : {_label(label)}")
        for timer_name, timer in state.timers.items():
            when = timer.after if timer.after is not None else f"end of {timer.at}"
            arrows = _arrows(timer)
            for target, condition in arrows:
                label = f"after {when} [{timer_name}]" + (f" if {condition}" if condition else "")
                lines.append(f"    {state_name} --> {target} : {_label(label)}")
            if not arrows:
                lines.append(
                    f"    note right of {state_name} : {_label(f'after {when} [{timer_name}] escalate or notify')}"
                )
        if state.terminal:
            lines.append(f"    {state_name} --> [*]")
    for event, handler in policy.any_state.items():
        for target, _condition in _arrows(handler):
            roles = "/".join(policy.events[event].roles) if event in policy.events else "?"
            lines.append(f"    note left of {target} : {_label(f'{event} ({roles}) from any open state')}")
    for clock_name, clock in policy.sla.items():
        start = ", ".join(clock.start)
        text = f"SLA {clock_name} {_target_text(clock)} from {start}"
        if clock.pause:
            text += f", paused in {', '.join(clock.pause)}"
        anchor = clock.start[0] if clock.start[0] in policy.states else next(iter(_arrows(policy.open)), ("", ""))[0]
        if anchor:
            lines.append(f"    note right of {anchor} : {_label(text)}")
        for target, condition in _arrows(clock.on_breach):
            for state_name in policy.states:
                if state_name in clock.start:
                    label = f"SLA {clock_name} breached" + (f" if {condition}" if condition else "")
                    lines.append(f"    {state_name} --> {target} : {_label(label)}")
    return "\n".join(lines) + "\n"
