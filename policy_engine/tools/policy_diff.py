"""What changed between two policy sets, in operator terms: windows, deadlines, rules, states.

Not a text diff: two policies that differ only in comments or key order are the same, and a change
is named for what it does ("timer awaiting_merchant.merchant_decision: 48h -> 72h").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from policy_engine.language import Policy, PolicySet, ResolvedPolicy, SlaClock, Target
from policy_engine.testing import policy_items


@dataclass(frozen=True)
class Change:
    policy: str
    # policy | party | window | timer | sla | escalation | decision | state | transition | event | parameter | template
    area: str
    what: str
    old: str = ""
    new: str = ""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _keyed(pid: str, area: str, old: Mapping[str, Any], new: Mapping[str, Any], what: str = "{}") -> Iterable[Change]:
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a is None and b is not None:
            yield Change(pid, area, what.format(key) + " added", "", _text(b))
        elif b is None and a is not None:
            yield Change(pid, area, what.format(key) + " removed", _text(a), "")
        elif _text(a) != _text(b):
            yield Change(pid, area, what.format(key), _text(a), _text(b))


def _window(policy: Policy) -> dict[str, str]:
    out = {}
    for name, w in policy.windows.items():
        size = w.length or (f"{w.months} months" if w.months is not None else f"{w.days} days")
        out[name] = f"{size} from {w.from_}"
    return out


def _timers(policy: Policy) -> dict[str, str]:
    return {
        f"{state_name}.{timer_name}": (timer.after if timer.after is not None else f"at end of {timer.at}")
        for state_name, state in policy.states.items()
        for timer_name, timer in state.timers.items()
    }


def _clock(clock: SlaClock) -> dict[str, Any]:
    target: Any = clock.target
    if isinstance(target, Target):
        target = {**target.cases, "default": target.default, "by": target.by}
    return {
        "target": target,
        "start": clock.start,
        "stop": clock.stop,
        "pause": clock.pause,
        "warn_at": None if clock.warn_at is None else f"{clock.warn_at:.0%}",
    }


def _rules(policy: Policy) -> dict[str, dict[str, Any]]:
    return {
        f"{table}: {rule.id}": {"position": i + 1, "if": rule.if_ or "(always)", "then": rule.then}
        for table, decision in policy.decisions.items()
        for i, rule in enumerate(decision.rules)
    }


def diff_policies(pid: str, old: ResolvedPolicy, new: ResolvedPolicy) -> list[Change]:
    a, b = old.policy, new.policy
    changes: list[Change] = []
    for key in ("case_type", "when", "order", "effective_from", "effective_until", "calendar", "locales"):
        va, vb = getattr(a, key), getattr(b, key)
        if _text(va) != _text(vb):
            changes.append(Change(pid, "policy", key, _text(va), _text(vb)))
    changes += _keyed(pid, "party", a.parties, b.parties, "party {}")
    changes += _keyed(pid, "window", _window(a), _window(b), "window {}")
    changes += _keyed(pid, "timer", _timers(a), _timers(b), "timer {}")
    changes += _keyed(
        pid, "sla", {k: _clock(c) for k, c in a.sla.items()}, {k: _clock(c) for k, c in b.sla.items()}, "SLA {}"
    )
    ladders_a = {f"{n}.level {lv.level}": lv.after for n, lad in a.escalations.items() for lv in lad.levels}
    ladders_b = {f"{n}.level {lv.level}": lv.after for n, lad in b.escalations.items() for lv in lad.levels}
    changes += _keyed(pid, "escalation", ladders_a, ladders_b, "ladder {}")
    changes += _keyed(pid, "decision", _rules(a), _rules(b), "rule {}")
    changes += _keyed(pid, "parameter", a.parameters, b.parameters, "parameter {}")
    roles_a = {n: e.roles for n, e in a.events.items()}
    roles_b = {n: e.roles for n, e in b.events.items()}
    changes += _keyed(pid, "event", roles_a, roles_b, "event {} roles")
    items_a, items_b = policy_items(a), policy_items(b)
    for kind in ("state", "transition"):
        for item in sorted(i for i in items_a - items_b if i[0] == kind):
            changes.append(Change(pid, kind, f"{item[1]} removed"))
        for item in sorted(i for i in items_b - items_a if i[0] == kind):
            changes.append(Change(pid, kind, f"{item[1]} added"))
    texts_a = {f"{n}.{loc}": t for n, by in old.templates.items() for loc, t in by.items()}
    texts_b = {f"{n}.{loc}": t for n, by in new.templates.items() for loc, t in by.items()}
    changes += _keyed(pid, "template", texts_a, texts_b, "template {}")
    return changes


def diff_sets(old: PolicySet, new: PolicySet) -> list[Change]:
    changes: list[Change] = []
    for pid in sorted(set(old.policies) | set(new.policies)):
        a, b = old.policies.get(pid), new.policies.get(pid)
        if a is None and b is not None:
            changes.append(Change(pid, "policy", f"policy added (runs {b.case_type})", "", b.short_version))
        elif b is None and a is not None:
            changes.append(Change(pid, "policy", f"policy removed (ran {a.case_type})", a.short_version, ""))
        elif a is not None and b is not None and a.version != b.version:
            found = diff_policies(pid, a, b)
            if not found:  # content differs in something not listed above (a description, a message...)
                found = [Change(pid, "policy", "other content (descriptions, actions or data fields)")]
            changes += found
    return changes
