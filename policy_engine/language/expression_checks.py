"""Checks of the expressions in a policy: names it does not declare, comparisons that cannot work.

A comparison is checked when the policy says what both sides hold (a declared field, a parameter's
value, a literal): a number compared with text never holds, `in` needs a list, a role must exist.
"""

from __future__ import annotations

import re
from typing import Any

from policy_engine.language.expressions import Operand, comparisons, referenced_paths
from policy_engine.language.fields import value_kind
from policy_engine.language.model import ROLES, Policy
from policy_engine.language.name_checks import check_names
from policy_engine.language.problems import unknown_name
from policy_engine.language.scope import Scope, field_kind
from policy_engine.language.walk import handlers
from policy_engine.language.yamlsource import DocPath, Reporter


def _as_number(text: str) -> str | None:
    """`1,000` or `1 000` as the number the operator meant (1000), if it is one."""
    cleaned = re.sub(r"[,_\s]", "", text)
    try:
        float(cleaned)
    except ValueError:
        return None
    return cleaned


class ExpressionChecker:
    """Checks every expression of one policy, reporting each problem where it is written."""

    def __init__(self, policy: Policy, report: Reporter) -> None:
        self.policy = policy
        self.report = report
        # The event whose handler is being checked (its data fields have types), None elsewhere.
        self.event: str | None = None
        # Tables some handler takes (`decide`): reading any other is a mistake.
        self.taken = {table for handler, _, _ in handlers(policy) for table in handler.decide}
        self._reported_params: set[DocPath] = set()

    def check(self, path: DocPath, text: str | None, scope: Scope) -> None:
        """Names the scope does not declare, comparisons that cannot work, decisions never taken."""
        if text is None:
            return
        messages = check_names(text, scope)
        for message in messages:
            quoted = re.search(r"'([^']+)'", message)
            self.report.error_in_text(path, quoted[1] if quoted else "", message)
        if messages:
            return
        self.check_comparisons(path, text)
        if not self.policy.abstract:
            for table in self.decisions_read(text):
                if table not in self.taken:
                    self.report.error_in_text(
                        path,
                        f"decisions.{table}",
                        f"decision '{table}' is read but never taken: no handler has `decide: {table}`",
                    )

    def decisions_read(self, text: str) -> list[str]:
        """The decision tables an expression reads (`decisions.TABLE.output`)."""
        reads = (read.split(".") for read in referenced_paths(text))
        return list(
            dict.fromkeys(r[1] for r in reads if len(r) > 1 and r[0] == "decisions" and r[1] in self.policy.decisions)
        )

    # -- kinds of values in comparisons --------------------------------------------------------

    def kind(self, operand: Operand) -> str | None:
        """What a comparison's side holds, when the policy says (a declared field, a parameter's value)."""
        if operand.literal:
            return value_kind(operand.value)
        if operand.path is None:
            return None
        root, *rest = operand.path.split(".")
        policy = self.policy
        if root == "case":
            return field_kind(policy.data, rest)
        if root == "event" and self.event in policy.events:
            return field_kind(policy.events[self.event].data, rest)
        if root == "vars":
            return field_kind(policy.variables, rest)
        if root == "params":
            value: Any = policy.parameters
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
        if root == "decisions" and len(rest) == 2 and rest[0] in policy.decisions:
            values = [rule.then.get(rest[1]) for rule in policy.decisions[rest[0]].rules]
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
                    self.report.error_in_text(
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
                self.report.error_in_text(
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
        value: Any = self.policy.parameters
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
        self.report.error(
            where, f"parameter '{name}' is the text '{text}' but {shown} ({self.report.line_of(path)}) {use}: {fix}"
        )

    def check_role_literal(self, path: DocPath, side: Operand, other: Operand) -> None:
        if side.path != "actor.role" or not other.literal:
            return
        values = other.value if isinstance(other.value, list) else [other.value]
        for value in values:
            if isinstance(value, str) and value not in ROLES:
                self.report.error_in_text(path, value, unknown_name("role", value, ROLES))
