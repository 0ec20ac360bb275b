"""The state machine of a policy as a Mermaid diagram, for operators and the docs."""

from __future__ import annotations

from policy_engine.model import Handler, Policy, SlaClock, Target


def _targets(handler: Handler | None) -> list[tuple[str, str]]:
    """(target state, condition) for each way a handler moves the case."""
    if handler is None:
        return []
    return [(b.goto, b.if_ or "") for b in handler.branches if b.goto is not None]


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
    for target, cond in _targets(policy.open):
        lines.append(f"    [*] --> {target}" + (f" : {_label(cond)}" if cond else ""))
    for sname, state in policy.states.items():
        for ename, handler in state.on.items():
            roles = "/".join(policy.events[ename].roles) if ename in policy.events else "?"
            for target, cond in _targets(handler):
                label = f"{ename} ({roles})" + (f" if {cond}" if cond else "")
                lines.append(f"    {sname} --> {target} : {_label(label)}")
        for tname, timer in state.timers.items():
            when = timer.after if timer.after is not None else f"end of {timer.at}"
            moves = _targets(timer)
            for target, cond in moves:
                label = f"after {when} [{tname}]" + (f" if {cond}" if cond else "")
                lines.append(f"    {sname} --> {target} : {_label(label)}")
            if not moves:
                lines.append(f"    note right of {sname} : {_label(f'after {when} [{tname}] escalate or notify')}")
        if state.terminal:
            lines.append(f"    {sname} --> [*]")
    for ename, handler in policy.any_state.items():
        for target, _cond in _targets(handler):
            roles = "/".join(policy.events[ename].roles) if ename in policy.events else "?"
            lines.append(f"    note left of {target} : {_label(f'{ename} ({roles}) from any open state')}")
    for cname, clock in policy.sla.items():
        start = ", ".join(clock.start)
        text = f"SLA {cname} {_target_text(clock)} from {start}"
        if clock.pause:
            text += f", paused in {', '.join(clock.pause)}"
        anchor = clock.start[0] if clock.start[0] in policy.states else next(iter(_targets(policy.open)), ("", ""))[0]
        if anchor:
            lines.append(f"    note right of {anchor} : {_label(text)}")
        for target, cond in _targets(clock.on_breach):
            for state_name in policy.states:
                if state_name in clock.start:
                    label = f"SLA {cname} breached" + (f" if {cond}" if cond else "")
                    lines.append(f"    {state_name} --> {target} : {_label(label)}")
    return "\n".join(lines) + "\n"
