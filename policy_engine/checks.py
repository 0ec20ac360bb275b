"""Cross-reference checks of one policy: the mistakes a schema cannot see.

Every problem is reported at the place the operator must edit, through the policy's source map.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from policy_engine.calendar import Calendar
from policy_engine.durations import needs_calendar
from policy_engine.expressions import ANY, Operand, check_names, comparisons, compile_template, referenced_paths
from policy_engine.fields import FieldSpec, field_paths, value_kind
from policy_engine.model import (
    EXPRESSION_PARAMS,
    ROLES,
    Action,
    Branch,
    Handler,
    NotifyParams,
    Policy,
    Target,
    duration_of,
)
from policy_engine.problems import Problem
from policy_engine.yamlsource import DocPath, SourceMap, find_on_line

Scope = dict[str, Any]


def _param_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _param_tree(v) for k, v in value.items()}
    return None


def _var_tree(spec: FieldSpec) -> Any:
    if spec.type == "object" and spec.fields:
        return field_paths(spec.fields)
    return ANY if spec.type == "any" else None


def policy_scope(policy: Policy) -> Scope:
    """The names every expression of this policy may read."""
    decisions: dict[str, Any] = {}
    for name, table in policy.decisions.items():
        outputs: dict[str, Any] = {}
        for rule in table.rules:
            outputs.update({k: ANY for k in rule.then})
        decisions[name] = outputs
    return {
        "case": field_paths(policy.data),
        "params": _param_tree(policy.parameters),
        "windows": {name: None for name in policy.windows},
        "decisions": decisions,
        "counters": {name: None for name in policy.counters},
        "vars": {name: _var_tree(spec) for name, spec in policy.variables.items()},
        "now": None,
        "state": None,
        "case_id": None,
        "case_type": None,
    }


def event_scope(base: Scope, policy: Policy, event_name: str) -> Scope:
    event = policy.events.get(event_name)
    scope = dict(base)
    scope["event"] = field_paths(event.data) if event else ANY
    scope["actor"] = {"role": None, "id": None}
    return scope


def template_scope(base: Scope) -> Scope:
    return {**base, "case_id": None, "case_type": None}


# What kind of value a name or literal holds, in the words messages use; None when not known.
_SPEC_KINDS = {
    "string": "text",
    "number": "a number",
    "integer": "a number",
    "boolean": "true/false",
    "list": "a list",
    "object": "a mapping",
}


def _field_kind(fields: Mapping[str, FieldSpec], parts: list[str]) -> str | None:
    spec: FieldSpec | None = None
    current: Mapping[str, FieldSpec] | None = fields
    for part in parts:
        spec = current.get(part) if current is not None else None
        if spec is None:
            return None
        current = spec.fields
    return _SPEC_KINDS.get(spec.type) if spec is not None else None


def _as_number(text: str) -> str | None:
    """`1,000` or `1 000` as the number the operator meant (1000), if it is one."""
    cleaned = re.sub(r"[,_\s]", "", text)
    try:
        float(cleaned)
    except ValueError:
        return None
    return cleaned


@dataclass
class TemplateFile:
    name: str
    locale: str
    file: str
    source: str


class PolicyChecker:
    def __init__(
        self,
        policy: Policy,
        smap: SourceMap,
        calendars: Mapping[str, Calendar],
        templates: Mapping[str, Mapping[str, TemplateFile]],
        *,
        all_files_read: bool = True,
    ) -> None:
        self.p = policy
        # False when a YAML file of the set could not be read: a calendar it holds looks missing.
        self.all_files_read = all_files_read
        self.smap = smap
        self.calendars = calendars
        self.templates = templates
        self.problems: list[Problem] = []
        self.scope = policy_scope(policy)
        self.recipients = self._recipients()
        # The event whose handler is being checked (its data fields have types), None elsewhere.
        self._event: str | None = None
        self._taken = {table for handler, _, _ in self._handlers() for table in handler.decide}
        self._reported_params: set[DocPath] = set()
        self.used_templates: set[str] = set()
        # Each template with the names in scope where it is sent: an event's handler sees `event`.
        self.template_uses: list[tuple[str, Scope]] = []

    # -- helpers ----------------------------------------------------------------------------

    def error(self, path: DocPath, message: str, *, at_key: bool = False) -> None:
        self.problems.append(self.smap.problem(path, message, at_key=at_key))

    def error_in_text(self, path: DocPath, needle: str, message: str) -> None:
        """A problem with a name or value inside an expression, reported where it is written."""
        file, line, col = find_on_line(self.smap.value_at(path), needle)
        self.problems.append(Problem(file, line, col, message))

    def expr(self, path: DocPath, text: str | None, scope: Scope) -> None:
        if text is None:
            return
        messages = check_names(text, scope)
        for message in messages:
            quoted = re.search(r"'([^']+)'", message)
            self.error_in_text(path, quoted[1] if quoted else "", message)
        if messages:
            return
        self.check_comparisons(path, text)
        if not self.p.abstract:
            for table in self._decisions_read(text):
                if table not in self._taken:
                    self.error_in_text(
                        path,
                        f"decisions.{table}",
                        f"decision '{table}' is read but never taken: no handler has `decide: {table}`",
                    )

    def _decisions_read(self, text: str) -> list[str]:
        reads = (read.split(".") for read in referenced_paths(text))
        return list(
            dict.fromkeys(r[1] for r in reads if len(r) > 1 and r[0] == "decisions" and r[1] in self.p.decisions)
        )

    # -- kinds of values in comparisons --------------------------------------------------------

    def kind(self, operand: Operand) -> str | None:
        """What a comparison's side holds, when the policy says (a declared field, a parameter's value)."""
        if operand.literal:
            return value_kind(operand.value)
        if operand.path is None:
            return None
        root, *rest = operand.path.split(".")
        p = self.p
        if root == "case":
            return _field_kind(p.data, rest)
        if root == "event" and self._event in p.events:
            return _field_kind(p.events[self._event].data, rest)
        if root == "vars":
            return _field_kind(p.variables, rest)
        if root == "params":
            value: Any = p.parameters
            for part in rest:
                if not isinstance(value, dict) or part not in value:
                    return None
                value = value[part]
            return value_kind(value)
        if root == "counters" and len(rest) == 1:
            return "a number"
        if root == "windows" and len(rest) == 1:
            return "true/false"
        if (root in ("state", "case_id", "case_type") and not rest) or (root == "actor" and rest in (["role"], ["id"])):
            return "text"
        if root == "decisions" and len(rest) == 2 and rest[0] in p.decisions:
            values = [rule.then.get(rest[1]) for rule in p.decisions[rest[0]].rules]
            kinds = {value_kind(v) for v in values if not (isinstance(v, str) and v.startswith("="))}
            computed = any(isinstance(v, str) and v.startswith("=") for v in values)
            return kinds.pop() if len(kinds) == 1 and not computed else None
        return None

    def check_comparisons(self, path: DocPath, text: str) -> None:
        """Comparisons that cannot work whatever the case: a number with text (a parameter written
        `1,000` is text), `in` a parameter that is text rather than a list, a role that does not exist."""
        for left, op, right in comparisons(text):
            self.check_role_literal(path, left, right)
            self.check_role_literal(path, right, left)
            kind_l, kind_r = self.kind(left), self.kind(right)
            shown = f"`{left} {op} {right}`"
            if op in ("in", "not in"):
                if right.path and right.path.startswith("params.") and kind_r == "text":
                    self.text_parameter(right, path, shown, as_list=True)
                elif kind_r in ("a number", "true/false"):
                    self.error_in_text(
                        path, str(right), f"{shown}: {right} is {kind_r}, not a list: `{op}` needs a list"
                    )
                continue
            if kind_l is None or kind_r is None or kind_l == kind_r or {kind_l, kind_r} == {"a number", "true/false"}:
                continue
            for param, other in ((left, kind_r), (right, kind_l)):
                if (
                    param.path
                    and param.path.startswith("params.")
                    and self.kind(param) == "text"
                    and other == "a number"
                ):
                    self.text_parameter(param, path, shown, as_list=False)
                    break
            else:
                outcome = {"==": "it is never true", "!=": "it is always true"}.get(op, "it fails when the case runs")
                self.error_in_text(
                    path,
                    str(left),
                    f"{shown} compares {kind_l} ({left}) with {kind_r} ({right}): {outcome}",
                )

    def text_parameter(self, param: Operand, path: DocPath, shown: str, *, as_list: bool) -> None:
        """A parameter written as text where a number or a list is meant: reported at its value, once."""
        assert param.path is not None
        parts = tuple(param.path.split(".")[1:])
        where = ("parameters", *parts)
        if where in self._reported_params:
            return
        self._reported_params.add(where)
        value: Any = self.p.parameters
        for part in parts:
            value = value[part]
        text = " ".join(str(value).split())  # one line, whatever the YAML
        if as_list:
            use = "reads it as a list"
            fix = "write it as a list: [" + ", ".join(item.strip() for item in text.split(",")) + "]"
        else:
            use = "compares it with a number"
            number = _as_number(text)
            fix = f"write it as a number: {number}" if number else "write it as a number, without quotes"
        name = ".".join(parts)
        self.error(where, f"parameter '{name}' is the text '{text}' but {shown} ({self._line(path)}) {use}: {fix}")

    def check_role_literal(self, path: DocPath, side: Operand, other: Operand) -> None:
        if side.path != "actor.role" or not other.literal:
            return
        values = other.value if isinstance(other.value, list) else [other.value]
        for value in values:
            if isinstance(value, str) and value not in ROLES:
                self.error_in_text(path, value, self._unknown("role", value, ROLES))

    def _line(self, path: DocPath) -> str:
        file, line, _ = self.smap.value_at(path)
        return f"line {line}" if file == self.smap.file else f"{file}:{line}"

    def _recipients(self) -> set[str]:
        # Roles are the language's; a queue may be notified when the policy assigns or escalates to it.
        names: set[str] = set(ROLES)
        for action, _ in self._all_actions():
            if action.assign is not None:
                names.add(action.assign.to)
            if action.escalate is not None:
                names.add(action.escalate.to)
        return names

    def _handlers(self) -> Iterator[tuple[Handler, DocPath, str | None]]:
        """Every handler with its path and the event it handles (for the `event` name)."""
        if self.p.open is not None:
            yield self.p.open, ("open",), None
        for sname, state in self.p.states.items():
            for ename, handler in state.on.items():
                yield handler, ("states", sname, "on", ename), ename
            for tname, timer in state.timers.items():
                yield timer, ("states", sname, "timers", tname), None
            if state.on_enter is not None:
                yield state.on_enter, ("states", sname, "on_enter"), None
        for ename, handler in self.p.any_state.items():
            yield handler, ("any_state", ename), ename
        for cname, clock in self.p.sla.items():
            if clock.on_warn is not None:
                yield clock.on_warn, ("sla", cname, "on_warn"), None
            if clock.on_breach is not None:
                yield clock.on_breach, ("sla", cname, "on_breach"), None

    def _all_actions(self) -> Iterator[tuple[Action, DocPath]]:
        for handler, path, _ in self._handlers():
            for i, action in enumerate(handler.actions):
                yield action, (*path, "actions", i)
            if isinstance(handler.goto, list):
                for b, branch in enumerate(handler.goto):
                    for i, action in enumerate(branch.actions):
                        yield action, (*path, "goto", b, "actions", i)
        for lname, ladder in self.p.escalations.items():
            for li, level in enumerate(ladder.levels):
                for i, action in enumerate(level.actions):
                    yield action, ("escalations", lname, "levels", li, "actions", i)

    # -- the checks -----------------------------------------------------------------------------

    def run(self) -> list[Problem]:
        p = self.p
        if not p.abstract:
            self.check_complete()
        self.check_calendar()
        for wname, window in p.windows.items():
            lengths = [key for key in ("length", "months", "days") if getattr(window, key) is not None]
            if len(lengths) != 1:
                where = ("windows", wname, *self._later_key(("windows", wname), lengths)[-1:])
                self.error(
                    where, "a window needs exactly one of `length` (a duration), `months` or `days`", at_key=True
                )
            self.expr(("windows", wname, "from"), window.from_, self.scope)
            for key in ("months", "days"):
                value = getattr(window, key)
                if isinstance(value, str):
                    self.expr(("windows", wname, key), value, self.scope)
        self.expr(("locale",), p.locale, self.scope)
        self.expr(("listing", "merchant"), p.listing.merchant, self.scope)
        self.expr(("listing", "priority"), p.listing.priority, self.scope)
        self.expr(("when",), p.when, {"case": self.scope["case"], "params": self.scope["params"], "now": None})
        self.check_decisions()
        self.check_events()
        for handler, path, event in self._handlers():
            scope = event_scope(self.scope, p, event) if event else self.scope
            self._event = event
            self.check_handler(handler, path, scope)
        self._event = None
        self.check_open_reads()
        for sname, state in p.states.items():
            if state.terminal:
                self.check_terminal(sname)
            for ename in state.on:
                if ename not in p.events:
                    self.error(("states", sname, "on", ename), self._unknown("event", ename, p.events), at_key=True)
            for tname, timer in state.timers.items():
                path = ("states", sname, "timers", tname)
                given = [key for key in ("after", "at") if getattr(timer, key) is not None]
                if len(given) != 1:
                    self.error(
                        (*path, *self._later_key(path, given)[-1:]),
                        "a timer needs exactly one of `after` (a duration) or `at` (a window)",
                        at_key=True,
                    )
                if not timer.does_something:
                    self.error(
                        path,
                        f"timer '{tname}' has no effect: give it a goto, actions, set or escalate",
                        at_key=True,
                    )
                if timer.at is not None and timer.at not in p.windows:
                    self.error((*path, "at"), self._unknown("window", timer.at, p.windows))
        for ename in p.any_state:
            if ename not in p.events:
                self.error(("any_state", ename), self._unknown("event", ename, p.events), at_key=True)
        self.check_sla()
        self.check_ladders()
        if not p.abstract and p.states and p.open is not None:
            self.check_graph()
        if p.effective_from and p.effective_until and p.effective_until <= p.effective_from:
            self.error(("effective_until",), "effective_until must be after effective_from")
        return self.problems

    def _later_key(self, path: DocPath, keys: list[str]) -> list[str]:
        """`keys` of the mapping at `path` in the order they are written (keys of this policy's own
        file last: in an override, the key it adds is the one to point at)."""

        def written(key: str) -> tuple[bool, int, int]:
            file, line, col = self.smap.key_at((*path, key))
            return (file == self.smap.file, line, col)

        return sorted(keys, key=written)

    def check_terminal(self, sname: str) -> None:
        state = self.p.states[sname]
        for key in ("on", "timers"):
            if getattr(state, key):
                self.error(
                    ("states", sname, key),
                    "a terminal state closes the case: it cannot have `on` or `timers`",
                    at_key=True,
                )
        if state.on_enter is not None:
            for key in ("count", "decide", "set", "escalate", "goto"):
                if getattr(state.on_enter, key):
                    self.error(
                        ("states", sname, "on_enter", key),
                        "a terminal state closes the case: its `on_enter` only runs actions, "
                        f"so `{key}` would never happen",
                        at_key=True,
                    )

    def check_open_reads(self) -> None:
        """Decisions `open` reads must be taken by `open` first (the engine reads one not taken as none)."""
        p = self.p
        if p.open is None:
            return
        decide = p.open.decide
        for i, table in enumerate(decide):
            if table in p.decisions:
                for j, rule in enumerate(p.decisions[table].rules):
                    self._reads_taken(("decisions", table, "rules", j, "if"), rule.if_, decide[:i])
        for path, text in _handler_texts(p.open, ("open",)):
            self._reads_taken(path, text, decide)
        for cname, clock in p.sla.items():
            if "open" in clock.start and isinstance(clock.target, Target):
                self._reads_taken(("sla", cname, "target", "by"), clock.target.by, decide)

    def _reads_taken(self, path: DocPath, text: str | None, taken: list[str]) -> None:
        for table in self._decisions_read(text or ""):
            if table in self._taken and table not in taken:
                self.error_in_text(
                    path,
                    f"decisions.{table}",
                    f"decision '{table}' is read before it is taken: add it to `decide` in `open`, "
                    "before anything that reads it",
                )

    def _unknown(self, kind: str, name: str, known: Collection[str]) -> str:
        import difflib

        close = difflib.get_close_matches(name, list(known), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown {kind} '{name}'{hint}"

    def check_complete(self) -> None:
        p = self.p
        for key in ("case_type", "open", "calendar"):
            if getattr(p, key) is None:
                self.error(("policy",), f"policy '{p.policy}' needs `{key}` (or mark it `abstract: true`)")
        if not p.states:
            self.error(("policy",), f"policy '{p.policy}' needs `states` (or mark it `abstract: true`)")
        elif not p.terminal_states:
            self.error(("states",), "no state is terminal: a case could never close", at_key=True)
        if p.open is not None:
            branches = p.open.branches
            if not branches or branches[-1].if_ is not None:
                self.error(
                    ("open",),
                    "`open` must always move the case to a state: end with a goto that has no `if`",
                    at_key=True,
                )

    def check_calendar(self) -> None:
        p = self.p
        if p.calendar is not None and p.calendar not in self.calendars and self.all_files_read:
            self.error(("calendar",), self._unknown("calendar", p.calendar, self.calendars))
        if p.calendar is None:
            for path, text in self._durations():
                if needs_calendar(duration_of(text)):
                    self.error(path, f"'{text}' needs a calendar: set `calendar:` on the policy")

    def _durations(self) -> Iterator[tuple[DocPath, str]]:
        p = self.p
        for wname, window in p.windows.items():
            if window.length:
                yield ("windows", wname, "length"), window.length
        for sname, state in p.states.items():
            for tname, timer in state.timers.items():
                if timer.after:
                    yield ("states", sname, "timers", tname, "after"), timer.after
        for cname, clock in p.sla.items():
            if isinstance(clock.target, str):
                yield ("sla", cname, "target"), clock.target
            else:
                for k, v in clock.target.cases.items():
                    yield ("sla", cname, "target", "cases", k), v
                yield ("sla", cname, "target", "default"), clock.target.default
        for lname, ladder in p.escalations.items():
            for i, level in enumerate(ladder.levels):
                yield ("escalations", lname, "levels", i, "after"), level.after

    def check_decisions(self) -> None:
        seen: dict[str, DocPath] = {}
        for dname, table in self.p.decisions.items():
            first_outputs: set[str] | None = None
            for i, rule in enumerate(table.rules):
                path: DocPath = ("decisions", dname, "rules", i)
                if rule.id in seen:
                    line = self.smap.value_at((*seen[rule.id], "id"))[1]
                    self.error((*path, "id"), f"duplicate rule id '{rule.id}' (also at line {line})")
                else:
                    seen[rule.id] = path
                self.expr((*path, "if"), rule.if_, self.scope)
                outputs = set(rule.then)
                if first_outputs is None:
                    first_outputs = outputs
                elif outputs != first_outputs:
                    self.error(
                        (*path, "then"),
                        f"row '{rule.id}' gives outputs {sorted(outputs)} but the first row gives "
                        f"{sorted(first_outputs)}: every row of a table gives the same outputs",
                    )
                for key, value in rule.then.items():
                    if isinstance(value, str) and value.startswith("="):
                        self._computed_output((*path, "then", key), value[1:])
            last = table.rules[-1]
            if last.if_ is not None:
                self.error(
                    ("decisions", dname, "rules", len(table.rules) - 1),
                    f"decision '{dname}' has no final row without `if`: add a catch-all row so it always has an answer",
                )
            for j, rule in enumerate(table.rules[:-1]):
                if rule.if_ is None:
                    self.error(
                        ("decisions", dname, "rules", j + 1, "id"),
                        f"row '{table.rules[j + 1].id}' can never match: row '{rule.id}' above it "
                        "has no `if` and always wins",
                    )
                    break

    def _computed_output(self, path: DocPath, text: str) -> None:
        from policy_engine.expressions import compile_expression

        try:
            compile_expression(text)
        except ValueError as exc:
            self.error(path, str(exc))
            return
        self.expr(path, text, self.scope)

    def check_events(self) -> None:
        for ename, event in self.p.events.items():
            for i, role in enumerate(event.roles):
                if role not in ROLES:
                    message = self._unknown("role", role, ROLES)
                    if "did you mean" not in message:
                        message += f" (roles: {', '.join(ROLES)})"
                    self.error(("events", ename, "roles", i), message)
            scope = event_scope(self.scope, self.p, ename)
            self._event = ename
            for i, req in enumerate(event.require):
                self.expr(("events", ename, "require", i, "if"), req.if_, scope)
                try:
                    compile_template(req.message)
                except ValueError as exc:
                    self.error(("events", ename, "require", i, "message"), str(exc))
                    continue
                for message in check_names(req.message, scope, template=True):
                    self.error(("events", ename, "require", i, "message"), message)
        self._event = None

    def check_handler(self, handler: Handler, path: DocPath, scope: Scope) -> None:
        p = self.p
        for i, counter in enumerate(handler.count):
            if counter not in p.counters:
                self.error(
                    (*path, "count", i) if len(handler.count) > 1 else (*path, "count"),
                    self._unknown("counter", counter, p.counters),
                )
        for i, table in enumerate(handler.decide):
            if table not in p.decisions:
                self.error(
                    (*path, "decide", i) if len(handler.decide) > 1 else (*path, "decide"),
                    self._unknown("decision", table, p.decisions),
                )
        self.check_sets(handler.set, (*path, "set"), scope)
        self.check_actions(handler.actions, (*path, "actions"), scope)
        if handler.escalate is not None and handler.escalate not in p.escalations:
            self.error((*path, "escalate"), self._unknown("escalation ladder", handler.escalate, p.escalations))
        if isinstance(handler.goto, str):
            self.check_goto(handler.goto, (*path, "goto") if self._long_form(path) else path)
        elif isinstance(handler.goto, list):
            for b, branch in enumerate(handler.goto):
                self.check_branch(branch, (*path, "goto", b), scope)

    def _long_form(self, path: DocPath) -> bool:
        # A handler written as a bare state name has no `goto` key of its own in the source.
        return (*path, "goto") in self.smap.values

    def check_branch(self, branch: Branch, path: DocPath, scope: Scope) -> None:
        self.expr((*path, "if"), branch.if_, scope)
        if branch.goto is not None:
            self.check_goto(branch.goto, (*path, "goto"))
        self.check_sets(branch.set, (*path, "set"), scope)
        self.check_actions(branch.actions, (*path, "actions"), scope)
        if branch.escalate is not None and branch.escalate not in self.p.escalations:
            self.error((*path, "escalate"), self._unknown("escalation ladder", branch.escalate, self.p.escalations))

    def check_goto(self, target: str, path: DocPath) -> None:
        if target not in self.p.states:
            self.error(path, self._unknown("state", target, self.p.states))

    def check_sets(self, sets: Mapping[str, str], path: DocPath, scope: Scope) -> None:
        for name, text in sets.items():
            if name not in self.p.variables:
                self.error((*path, name), self._unknown("variable", name, self.p.variables), at_key=True)
            self.expr((*path, name), text, scope)

    def check_actions(self, actions: list[Action], path: DocPath, scope: Scope) -> None:
        for i, action in enumerate(actions):
            self.check_action(action, (*path, i, action.type), scope)

    def check_action(self, action: Action, path: DocPath, scope: Scope) -> None:
        params = action.params
        if isinstance(params, NotifyParams):
            for j, role in enumerate(params.to):
                if role not in self.recipients:
                    self.error((*path, "to", j), self._unknown("recipient", role, self.recipients))
            self.check_template(params.template, (*path, "template"), scope)
            return
        for key in EXPRESSION_PARAMS.get(action.type, ()):
            value = getattr(params, key)
            if isinstance(value, str):
                self.expr((*path, key), value, template_scope(scope))
        if action.open_case is not None and action.open_case.data:
            for k, text in action.open_case.data.items():
                self.expr((*path, "data", k), text, scope)
        if action.refund is not None and action.refund.reports not in self.p.events:
            self.error((*path, "reports"), self._unknown("event", action.refund.reports, self.p.events))

    def check_template(self, name: str, path: DocPath, scope: Scope) -> None:
        self.used_templates.add(name)
        self.template_uses.append((name, scope))
        by_locale = self.templates.get(name, {})
        missing = [loc for loc in self.p.locales if loc not in by_locale]
        if not by_locale:
            self.error(
                path,
                self._unknown("template", name, self.templates)
                + f" (expected templates/{name}.{self.p.locales[0]}.j2)",
            )
        elif missing:
            self.error(
                path,
                f"template '{name}' has no text for locale {', '.join(missing)} "
                f"(expected templates/{name}.{missing[0]}.j2)",
            )

    def check_sla(self) -> None:
        p = self.p
        for cname, clock in p.sla.items():
            path: DocPath = ("sla", cname)
            for key in ("start", "stop", "pause"):
                names: list[str] = getattr(clock, key)
                for i, sname in enumerate(names):
                    if sname == "open" and key == "start":
                        continue
                    if sname not in p.states:
                        sub = (*path, key, i) if (*path, key, i) in self.smap.values else (*path, key)
                        self.error(sub, self._unknown("state", sname, p.states))
            if isinstance(clock.target, Target):
                self.expr((*path, "target", "by"), clock.target.by, self.scope)
            if (clock.warn_at is None) != (clock.on_warn is None):
                given, missing = ("warn_at", "on_warn") if clock.on_warn is None else ("on_warn", "warn_at")
                self.error((*path, given), f"`warn_at` and `on_warn` go together: add `{missing}`", at_key=True)

    def check_ladders(self) -> None:
        for lname, ladder in self.p.escalations.items():
            for li, level in enumerate(ladder.levels):
                self.check_actions(level.actions, ("escalations", lname, "levels", li, "actions"), self.scope)

    def check_graph(self) -> None:
        """Every state reachable from `open`; every non-terminal state has a way out."""
        p = self.p
        edges: dict[str, set[str]] = {name: set() for name in p.states}
        global_targets: set[str] = set()
        for target in _targets(p.open):
            global_targets.add(target)
        for clock in p.sla.values():
            for handler in (clock.on_warn, clock.on_breach):
                global_targets.update(_targets(handler))
        any_targets: set[str] = set()
        for handler in p.any_state.values():
            any_targets.update(_targets(handler))
        for sname, state in p.states.items():
            for handler in state.on.values():
                edges[sname].update(_targets(handler))
            for timer in state.timers.values():
                edges[sname].update(_targets(timer))
            edges[sname].update(_targets(state.on_enter))
            if not state.terminal:
                edges[sname].update(any_targets)
        seen: set[str] = set()
        frontier = [t for t in _targets(p.open) if t in p.states]
        while frontier:
            name = frontier.pop()
            if name in seen:
                continue
            seen.add(name)
            successors = edges[name] | {t for t in global_targets if self._clock_runs_in(name)}
            frontier.extend(t for t in successors if t in p.states and t not in seen)
        for sname, state in p.states.items():
            if sname not in seen:
                self.error(("states", sname), f"state '{sname}' cannot be reached from `open`", at_key=True)
            elif not state.terminal:
                exits = (edges[sname] | self._breach_exits(sname)) - {sname}
                if not exits:
                    self.error(
                        ("states", sname),
                        f"state '{sname}' is not terminal but has no way out: add an event, a timer "
                        "or `terminal: true`",
                        at_key=True,
                    )

    def _clock_runs_in(self, state: str) -> bool:
        return bool(self.p.sla) and not self.p.states[state].terminal

    def _breach_exits(self, state: str) -> set[str]:
        out: set[str] = set()
        for clock in self.p.sla.values():
            if state in clock.stop or state in clock.pause:
                continue
            out.update(_targets(clock.on_breach))
        return out


def _handler_texts(handler: Handler, path: DocPath) -> Iterator[tuple[DocPath, str]]:
    """The expressions a handler evaluates, with their paths (conditions, values set, action values)."""
    for name, text in handler.set.items():
        yield (*path, "set", name), text
    yield from _action_texts(handler.actions, (*path, "actions"))
    if isinstance(handler.goto, list):
        for b, branch in enumerate(handler.goto):
            if branch.if_ is not None:
                yield (*path, "goto", b, "if"), branch.if_
            for name, text in branch.set.items():
                yield (*path, "goto", b, "set", name), text
            yield from _action_texts(branch.actions, (*path, "goto", b, "actions"))


def _action_texts(actions: list[Action], path: DocPath) -> Iterator[tuple[DocPath, str]]:
    for i, action in enumerate(actions):
        params = action.params
        for key in EXPRESSION_PARAMS.get(action.type, ()):
            value = getattr(params, key)
            if isinstance(value, str):
                yield (*path, i, action.type, key), value
        if action.open_case is not None and action.open_case.data:
            for k, text in action.open_case.data.items():
                yield (*path, i, action.type, "data", k), text


def _targets(handler: Handler | None) -> set[str]:
    if handler is None:
        return set()
    return {b.goto for b in handler.branches if b.goto is not None}


def check_template_files(
    templates: Mapping[str, Mapping[str, TemplateFile]], uses: list[tuple[str, Scope]]
) -> list[Problem]:
    """Compile every template and check the names it reads where it is sent, once per problem."""
    problems: list[Problem] = []
    seen: set[tuple[str, int, int, str]] = set()
    for name, by_locale in templates.items():
        scopes = [scope for used, scope in uses if used == name]
        for tf in by_locale.values():
            try:
                compile_template(tf.source)
            except ValueError as exc:
                line = getattr(exc.__cause__, "lineno", None) or _syntax_line(tf.source)
                problems.append(Problem(tf.file, line, 1, str(exc)))
                continue
            for scope in scopes:
                for message in check_names(tf.source, template_scope(scope), template=True):
                    line, col = _locate(tf.source, message)
                    if (tf.file, line, col, message) not in seen:
                        seen.add((tf.file, line, col, message))
                        problems.append(Problem(tf.file, line, col, message))
    return problems


def _syntax_line(source: str) -> int:
    from jinja2 import TemplateSyntaxError

    from policy_engine.expressions import ENV

    try:
        ENV.parse(source)
    except TemplateSyntaxError as exc:
        return exc.lineno or 1
    return 1


def _locate(source: str, message: str) -> tuple[int, int]:
    """Where the name a message quotes first appears in a template."""
    import re

    match = re.search(r"'([^']+)'", message)
    if match:
        needle = match.group(1)
        for n, line in enumerate(source.splitlines(), start=1):
            col = line.find(needle)
            if col >= 0:
                return n, col + 1
    return 1, 1
