"""Sandboxed Jinja2 expressions and templates, compiled once and checked against declared names.

Operators write conditions such as `case.reason == 'no_reason' and not windows.no_reason_return`.
They are compiled when the policy loads; a name the policy does not declare is a load error, so a
typo never reaches a customer. At run time dictionaries are read by key only (never by method), and
anything undefined raises instead of quietly becoming empty.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import TemplateError

from policy_engine.language.expression_limits import LimitExceeded
from policy_engine.language.sandbox import ENV, Compiled


class ExpressionError(Exception):
    """An expression failed at run time (a comparison of a number with nothing, say)."""


class TemplateCompileError(ValueError):
    """A message template that does not compile, with the line of the mistake (1-based) for the
    validator to report: Jinja's own error, with its traceback, is not kept."""

    def __init__(self, message: str, lineno: int) -> None:
        super().__init__(message)
        self.lineno = lineno


class Expression:
    """A compiled expression; call it with the names it may read."""

    __slots__ = ("_fn", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        try:
            # The expression compiles to a template assigning `result` (Jinja's own wrapper).
            self._fn = Compiled(ENV.compile_expression(text, undefined_to_none=False)._template)
        except TemplateError as exc:
            raise ValueError(_syntax_message(text, exc)) from None

    def __call__(self, names: Mapping[str, Any]) -> Any:
        try:
            result = self._fn.evaluate(names)
        except LimitExceeded as exc:
            raise ExpressionError(f"`{self.text}`: {exc}") from None
        except TemplateError as exc:
            raise ExpressionError(f"`{self.text}`: {exc.message or exc}") from None
        except TypeError as exc:
            raise ExpressionError(f"`{self.text}`: {_type_error(exc)}") from None
        except Exception as exc:
            raise ExpressionError(f"`{self.text}`: {type(exc).__name__}: {exc}") from None
        if isinstance(result, Undefined):
            raise ExpressionError(f"`{self.text}` is undefined")
        return result

    def test(self, names: Mapping[str, Any]) -> bool:
        return bool(self(names))


# Python's words for values, in the operator's (the timeline shows these messages).
_VALUE_KINDS = {
    "int": "a number",
    "float": "a number",
    "str": "text",
    "bool": "true/false",
    "NoneType": "nothing (a value the case does not have)",
    "list": "a list",
    "dict": "a mapping",
    "datetime": "a date-time",
    "date": "a date",
}
_UNORDERABLE = re.compile(r"'(\S+)' not supported between instances of '(\w+)' and '(\w+)'")
_BAD_OPERANDS = re.compile(r"unsupported operand type\(s\) for (\S+): '(\w+)' and '(\w+)'")


def _type_error(exc: TypeError) -> str:
    """A comparison or a sum of values that do not go together, said without Python's type names."""
    text = str(exc)
    match = _UNORDERABLE.search(text)
    if match:
        op, left, right = match.groups()
        return f"cannot compare {_VALUE_KINDS.get(left, left)} with {_VALUE_KINDS.get(right, right)} ('{op}')"
    match = _BAD_OPERANDS.search(text)
    if match:
        op, left, right = match.groups()
        return f"cannot apply '{op}' to {_VALUE_KINDS.get(left, left)} and {_VALUE_KINDS.get(right, right)}"
    return f"TypeError: {text}"


def _syntax_message(text: str, exc: TemplateError) -> str:
    detail = exc.message or str(exc)
    return f"expression `{text}` does not compile: {detail}"


@lru_cache(maxsize=8192)
def compile_expression(text: str) -> Expression:
    """Compiled expressions are shared: the same text compiles once per process."""
    return Expression(text)


class Template:
    """A compiled message template rendered in the sandbox with strict undefined names."""

    __slots__ = ("_template", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        try:
            self._template = Compiled(ENV.from_string(source))
        except TemplateError as exc:
            # Parse errors and those found only when compiling (an unknown filter) alike say their line.
            lineno = exc.lineno if isinstance(exc, TemplateSyntaxError) else 1
            raise TemplateCompileError(f"template does not compile: {exc.message or exc}", lineno) from None

    def render(self, names: Mapping[str, Any]) -> str:
        try:
            return self._template.render(names).strip()
        except LimitExceeded as exc:
            raise ExpressionError(f"template: {exc}") from None
        except TemplateError as exc:
            raise ExpressionError(f"template: {exc.message or exc}") from None
        except Exception as exc:
            raise ExpressionError(f"template: {type(exc).__name__}: {exc}") from None


@lru_cache(maxsize=1024)
def compile_template(source: str) -> Template:
    return Template(source)


@lru_cache(maxsize=8192)
def referenced_paths(text: str) -> tuple[str, ...]:
    """Dotted names an expression reads (`case.item.category`), for the audit trail of decisions."""
    try:
        ast = ENV.parse("{{ " + text + " }}")
    except TemplateSyntaxError:
        return ()
    found: list[str] = []

    def dotted(node: nodes.Node) -> str | None:
        if isinstance(node, nodes.Name):
            return node.name
        if isinstance(node, nodes.Getattr):
            base = dotted(node.node)
            return f"{base}.{node.attr}" if base else None
        return None

    def walk(node: nodes.Node) -> None:
        if isinstance(node, nodes.Getattr | nodes.Name):
            name = dotted(node)
            if name:
                found.append(name)
                return
        for child in node.iter_child_nodes():
            walk(child)

    walk(ast)
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class Operand:
    """One side of a comparison: a dotted name (`case.amount`), a literal (`1000`, `'vip'`, `['a']`),
    or something computed that the checker does not follow (neither)."""

    path: str | None = None
    literal: bool = False
    value: Any = None

    def __str__(self) -> str:
        if self.path is not None:
            return self.path
        return repr(self.value) if self.literal else "(a computed value)"


# Jinja's names of comparison operators, as the operator wrote them.
OPERATORS = {"eq": "==", "ne": "!=", "gt": ">", "gteq": ">=", "lt": "<", "lteq": "<=", "in": "in", "notin": "not in"}


def _operand(node: nodes.Node) -> Operand:
    if isinstance(node, nodes.Const):
        return Operand(literal=True, value=node.value)
    if isinstance(node, nodes.Neg) and isinstance(node.node, nodes.Const) and isinstance(node.node.value, int | float):
        return Operand(literal=True, value=-node.node.value)
    if isinstance(node, nodes.List | nodes.Tuple) and all(isinstance(i, nodes.Const) for i in node.items):
        return Operand(literal=True, value=[i.value for i in node.items if isinstance(i, nodes.Const)])
    path = _dotted(node)
    return Operand(path=path) if path else Operand()


def _dotted(node: nodes.Node) -> str | None:
    """`case.item.category` (or `params['high_amount']`) as a dotted name; None for anything computed."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        base = _dotted(node.node)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        base = _dotted(node.node)
        return f"{base}.{node.arg.value}" if base else None
    return None


@lru_cache(maxsize=8192)
def comparisons(text: str) -> tuple[tuple[Operand, str, Operand], ...]:
    """Each comparison in an expression as (left, operator, right): `a < b < c` gives two."""
    try:
        ast = ENV.parse("{{ " + text + " }}")
    except TemplateSyntaxError:
        return ()
    found: list[tuple[Operand, str, Operand]] = []
    for node in ast.find_all(nodes.Compare):
        left = node.expr
        for op in node.ops:
            found.append((_operand(left), OPERATORS.get(op.op, op.op), _operand(op.expr)))
            left = op.expr
    return tuple(found)


def lookup_path(names: Mapping[str, Any], dotted: str) -> Any:
    """The value of a dotted name in `names`, or None where it does not resolve."""
    node: Any = names
    for part in dotted.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return None
    return node
