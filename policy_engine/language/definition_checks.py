"""Checks of what a policy defines besides its handlers: that it is complete, its calendar, windows,
decision tables, states and timers, SLA clocks, parties and dates.

Each function reports through the policy's `Reporter`, at the key or value the operator must edit,
and checks the expressions it meets with the policy's `ExpressionChecker`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from policy_engine.language.calendars import Calendar
from policy_engine.language.durations import needs_calendar
from policy_engine.language.expression_checks import ExpressionChecker
from policy_engine.language.expressions import compile_expression, referenced_paths
from policy_engine.language.model import PARTY_ROLES, ROLES, Policy, Target
from policy_engine.language.problems import unknown_name
from policy_engine.language.scope import Scope, field_spec
from policy_engine.language.terms import duration_of
from policy_engine.language.walk import all_actions
from policy_engine.language.yamlsource import DocPath, Reporter


def later_key(report: Reporter, path: DocPath, keys: list[str]) -> list[str]:
    """`keys` of the mapping at `path` in the order they are written (keys of this policy's own file
    last: in an override, the key it adds is the one to point at)."""

    def written(key: str) -> tuple[bool, int, int]:
        file, line, col = report.smap.key_at((*path, key))
        return (file == report.smap.file, line, col)

    return sorted(keys, key=written)


def check_complete(policy: Policy, report: Reporter) -> None:
    """What a policy that runs cases (not `abstract`) must have."""
    for key in ("case_type", "open", "calendar"):
        if getattr(policy, key) is None:
            report.error(("policy",), f"policy '{policy.policy}' needs `{key}` (or mark it `abstract: true`)")
    if not policy.states:
        report.error(("policy",), f"policy '{policy.policy}' needs `states` (or mark it `abstract: true`)")
    elif not policy.terminal_states:
        report.error(("states",), "no state is terminal: a case could never close", at_key=True)
    if policy.open is not None:
        branches = policy.open.branches
        if not branches or branches[-1].if_ is not None:
            report.error(
                ("open",),
                "`open` must always move the case to a state: end with a goto that has no `if`",
                at_key=True,
            )


def check_calendar(
    policy: Policy, report: Reporter, calendars: Mapping[str, Calendar], *, all_files_read: bool
) -> None:
    """The calendar exists; without one, no duration counts working days or business hours."""
    if policy.calendar is not None and policy.calendar not in calendars and all_files_read:
        report.error(("calendar",), unknown_name("calendar", policy.calendar, calendars))
    if policy.calendar is None:
        for path, text in _durations(policy):
            if needs_calendar(duration_of(text)):
                report.error(path, f"'{text}' needs a calendar: set `calendar:` on the policy")


def _durations(policy: Policy) -> Iterator[tuple[DocPath, str]]:
    for window_name, window in policy.windows.items():
        if window.length:
            yield ("windows", window_name, "length"), window.length
    for state_name, state in policy.states.items():
        for timer_name, timer in state.timers.items():
            if timer.after:
                yield ("states", state_name, "timers", timer_name, "after"), timer.after
    for clock_name, clock in policy.sla.items():
        if isinstance(clock.target, str):
            yield ("sla", clock_name, "target"), clock.target
        else:
            for key, text in clock.target.cases.items():
                yield ("sla", clock_name, "target", "cases", key), text
            yield ("sla", clock_name, "target", "default"), clock.target.default
    for ladder_name, ladder in policy.escalations.items():
        for i, level in enumerate(ladder.levels):
            yield ("escalations", ladder_name, "levels", i, "after"), level.after


def check_windows(policy: Policy, report: Reporter, expressions: ExpressionChecker, scope: Scope) -> None:
    for window_name, window in policy.windows.items():
        lengths = [key for key in ("length", "months", "days") if getattr(window, key) is not None]
        if len(lengths) != 1:
            where = ("windows", window_name, *later_key(report, ("windows", window_name), lengths)[-1:])
            report.error(where, "a window needs exactly one of `length` (a duration), `months` or `days`", at_key=True)
        expressions.check(("windows", window_name, "from"), window.from_, scope)
        for key in ("months", "days"):
            value = getattr(window, key)
            if isinstance(value, str):
                expressions.check(("windows", window_name, key), value, scope)


def check_decisions(policy: Policy, report: Reporter, expressions: ExpressionChecker, scope: Scope) -> None:
    """Rows with unique ids and the same outputs, and a final catch-all row that is the only one."""
    seen: dict[str, DocPath] = {}
    for table_name, table in policy.decisions.items():
        first_outputs: set[str] | None = None
        for i, rule in enumerate(table.rules):
            path: DocPath = ("decisions", table_name, "rules", i)
            if rule.id in seen:
                line = report.smap.value_at((*seen[rule.id], "id"))[1]
                report.error((*path, "id"), f"duplicate rule id '{rule.id}' (also at line {line})")
            else:
                seen[rule.id] = path
            expressions.check((*path, "if"), rule.if_, scope)
            outputs = set(rule.then)
            if first_outputs is None:
                first_outputs = outputs
            elif outputs != first_outputs:
                report.error(
                    (*path, "then"),
                    f"row '{rule.id}' gives outputs {sorted(outputs)} but the first row gives "
                    f"{sorted(first_outputs)}: every row of a table gives the same outputs",
                )
            for key, value in rule.then.items():
                if isinstance(value, str) and value.startswith("="):
                    _check_computed_output((*path, "then", key), value[1:], report, expressions, scope)
        last = table.rules[-1]
        if last.if_ is not None:
            report.error(
                ("decisions", table_name, "rules", len(table.rules) - 1),
                f"decision '{table_name}' has no final row without `if`: add a catch-all row so it always has an answer",
            )
        for j, rule in enumerate(table.rules[:-1]):
            if rule.if_ is None:
                report.error(
                    ("decisions", table_name, "rules", j + 1, "id"),
                    f"row '{table.rules[j + 1].id}' can never match: row '{rule.id}' above it "
                    "has no `if` and always wins",
                )
                break


def _check_computed_output(
    path: DocPath, text: str, report: Reporter, expressions: ExpressionChecker, scope: Scope
) -> None:
    try:
        compile_expression(text)
    except ValueError as exc:
        report.error(path, str(exc))
        return
    expressions.check(path, text, scope)


def check_states(policy: Policy, report: Reporter) -> None:
    """Terminal states that would do more than close, unknown events, timers that do nothing."""
    for state_name, state in policy.states.items():
        if state.terminal:
            _check_terminal(policy, state_name, report)
        for event in state.on:
            if event not in policy.events:
                report.error(
                    ("states", state_name, "on", event), unknown_name("event", event, policy.events), at_key=True
                )
        for timer_name, timer in state.timers.items():
            path = ("states", state_name, "timers", timer_name)
            given = [key for key in ("after", "at") if getattr(timer, key) is not None]
            if len(given) != 1:
                report.error(
                    (*path, *later_key(report, path, given)[-1:]),
                    "a timer needs exactly one of `after` (a duration) or `at` (a window)",
                    at_key=True,
                )
            if not timer.does_something:
                report.error(
                    path,
                    f"timer '{timer_name}' has no effect: give it a goto, actions, set or escalate",
                    at_key=True,
                )
            if timer.at is not None and timer.at not in policy.windows:
                report.error((*path, "at"), unknown_name("window", timer.at, policy.windows))
    for event in policy.any_state:
        if event not in policy.events:
            report.error(("any_state", event), unknown_name("event", event, policy.events), at_key=True)


def _check_terminal(policy: Policy, state_name: str, report: Reporter) -> None:
    state = policy.states[state_name]
    for key in ("on", "timers"):
        if getattr(state, key):
            report.error(
                ("states", state_name, key),
                "a terminal state closes the case: it cannot have `on` or `timers`",
                at_key=True,
            )
    if state.on_enter is not None:
        for key in ("count", "decide", "set", "escalate", "goto"):
            if getattr(state.on_enter, key):
                report.error(
                    ("states", state_name, "on_enter", key),
                    "a terminal state closes the case: its `on_enter` only runs actions, "
                    f"so `{key}` would never happen",
                    at_key=True,
                )


def check_sla(policy: Policy, report: Reporter, expressions: ExpressionChecker, scope: Scope) -> None:
    """Clocks name states that exist; a warning has both its share and its handler."""
    for clock_name, clock in policy.sla.items():
        path: DocPath = ("sla", clock_name)
        for key in ("start", "stop", "pause"):
            names: list[str] = getattr(clock, key)
            for i, state_name in enumerate(names):
                if state_name == "open" and key == "start":
                    continue
                if state_name not in policy.states:
                    sub = (*path, key, i) if (*path, key, i) in report.smap.values else (*path, key)
                    report.error(sub, unknown_name("state", state_name, policy.states))
        if isinstance(clock.target, Target):
            expressions.check((*path, "target", "by"), clock.target.by, scope)
        if (clock.warn_at is None) != (clock.on_warn is None):
            given, missing = ("warn_at", "on_warn") if clock.on_warn is None else ("on_warn", "warn_at")
            report.error((*path, given), f"`warn_at` and `on_warn` go together: add `{missing}`", at_key=True)


# A party's binding: a case data field, perhaps an item of a list (`case.sellers[0]`), or the first
# of several that the case has (`case.order.merchant_id or case.merchant_id`).
_FIELD = r"case(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])+"
_FIELD_PATH = re.compile(rf"{_FIELD}(?:\s+or\s+{_FIELD})*")

# What a case data field holds, in the words messages use, for a party bound to one that is not text.
_FIELD_KINDS = {
    "number": "a number",
    "integer": "a number",
    "boolean": "true/false",
    "datetime": "a date-time",
    "date": "a date",
    "list": "a list",
    "object": "a mapping",
}


def check_parties(policy: Policy, report: Reporter, expressions: ExpressionChecker, scope: Scope) -> None:
    """Each bound role is one that has a party of its own, bound to a text field of the case data."""
    for role, text in policy.parties.items():
        path: DocPath = ("parties", role)
        if role not in ROLES:
            message = unknown_name("role", role, PARTY_ROLES)
            report.error(path, f"{message} (roles that can be bound: {', '.join(PARTY_ROLES)})", at_key=True)
            continue
        if role not in PARTY_ROLES:
            report.error(
                path,
                f"role '{role}' has no party of its own in a case, so it cannot be bound: only "
                f"{', '.join(PARTY_ROLES)} can (agents and supervisors work any case from their queues, a "
                "mediator is appointed when mediation starts, the system is the platform itself)",
                at_key=True,
            )
            continue
        example = "case.customer.id" if role == "customer" else "case.order.merchant_id"
        others = dict.fromkeys(read.split(".")[0] for read in referenced_paths(text) if read.split(".")[0] != "case")
        for name in others:
            report.error_in_text(
                path,
                name,
                f"a party is bound to the case data, and `{name}` is not the case data: write the field "
                f"that holds the {role}'s id, such as {example}",
            )
        if others:
            continue
        before = len(report.problems)
        expressions.check(path, text, {"case": scope["case"]})
        if len(report.problems) > before:
            continue
        reads = [read for read in referenced_paths(text) if read.startswith("case.")]
        if not reads:
            report.error(
                path,
                f"the {role} must be bound to the case data field that holds its id (such as {example}), not to a fixed value",
            )
            continue
        if not _FIELD_PATH.fullmatch(text.strip()):
            # `case.customer.id == 'C-1'` or `case.amount + 1`: no one's id, so every case would
            # refuse every event of that role.
            report.error(
                path,
                f"the {role} must be bound to the case data field that holds its id (such as {example}), "
                "not to a computation",
            )
            continue
        spec = field_spec(policy.data, reads[0].split(".")[1:]) if text.strip() == reads[0] else None
        if spec is not None and spec.type not in ("string", "any"):
            report.error_in_text(
                path,
                reads[0],
                f"`{reads[0]}` is {_FIELD_KINDS.get(spec.type, spec.type)}, not text: bind the {role} to "
                "the text field that holds its id",
            )
    # An action's success comes back as its `reports` event, sent as that event's first role: from a
    # bound role it would never be this case's party, and the case would wait for it forever.
    for action, action_path in all_actions(policy):
        reports = getattr(action.params, "reports", None)
        event = policy.events.get(reports) if isinstance(reports, str) else None
        if event is not None and event.roles[0] in policy.parties:
            report.error(
                (*action_path, action.type, "reports"),
                f"'{reports}' reports the {action.type} back as role '{event.roles[0]}', which `parties` "
                f"binds: the report would be refused; list `system` first in the roles of '{reports}'",
            )


def check_dates(policy: Policy, report: Reporter) -> None:
    if policy.effective_from and policy.effective_until and policy.effective_until <= policy.effective_from:
        report.error(("effective_until",), "effective_until must be after effective_from")
