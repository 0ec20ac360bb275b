"""The names an expression or template reads, checked against what the policy declares, with
Jinja's scoping: a loop variable exists inside its loop only, a macro's parameters inside the macro.

A loop or `set` variable named like a declared name (`case`) or one of Jinja's (`range`, `loop`)
would hide it from everything inside the loop: refused, so that a name always means one thing.
Constant parts of an expression are evaluated here too, in the capped sandbox: one that goes past a
cap (`10 ** (3 * 10 ** 7)`) would fail every time it runs, so it is refused now.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateSyntaxError, nodes

from policy_engine.language import expression_limits as limits
from policy_engine.language.expression_limits import Budget, LimitExceeded
from policy_engine.language.problems import did_you_mean, unknown_name
from policy_engine.language.sandbox import ENV, Compiled

# Marks a part of the name tree where anything goes (results of filters, list items, parameters
# read with a computed key).
ANY: Any = object()
NameTree = Mapping[str, Any]

# Jinja's own names that a variable must not hide.
_JINJA_NAMES = frozenset({*ENV.globals, "loop"})


@dataclass(frozen=True)
class NameProblem:
    message: str
    lineno: int  # in the template (1 for an expression)


def name_problems(text: str, scope: NameTree, *, template: bool = False) -> list[NameProblem]:
    """What an expression (or template) reads that the scope does not declare, variables that hide
    a name, and constant parts past a cap; a syntax error alone when it does not parse.

    The scope is a tree: a mapping lists the known fields below a name, None marks a leaf (a value
    with no fields we know of), ANY allows any field below.
    """
    source = text if template else "{{ " + text + " }}"
    try:
        ast = ENV.parse(source)
    except TemplateSyntaxError as exc:
        return [NameProblem(f"expression `{text}` does not compile: {exc.message or exc}", exc.lineno)]
    walk = _ScopedWalk(scope, {name for node in ast.find_all(nodes.Name) if node.ctx != "load" for name in [node.name]})
    walk.statements(ast.body, frozenset())
    walk.problems.extend(constant_problems(ast))
    return list(dict.fromkeys(walk.problems))


def check_names(text: str, scope: NameTree, *, template: bool = False) -> list[str]:
    """The messages of `name_problems`."""
    return list(dict.fromkeys(p.message for p in name_problems(text, scope, template=template)))


class _ScopedWalk:
    """Walks statements in order, with the names each one may read."""

    def __init__(self, scope: NameTree, bound_somewhere: set[str]) -> None:
        self.scope = scope
        self.bound_somewhere = bound_somewhere
        self.problems: list[NameProblem] = []

    def statements(self, body: Iterable[nodes.Node], local: frozenset[str]) -> frozenset[str]:
        """Walks `body`; returns the names defined after it (a `set` defines a name from there on)."""
        for node in body:
            local = self.statement(node, local)
        return local

    def statement(self, node: nodes.Node, local: frozenset[str]) -> frozenset[str]:
        if isinstance(node, nodes.For):
            self.expression(node.iter, local)
            inner = local | self.bind(node.target, "loop variable") | {"loop"}
            if node.test is not None:
                self.expression(node.test, inner)
            self.statements(node.body, inner)
            self.statements(node.else_, local)  # `else` runs when there was no item: no loop variable
            return local
        if isinstance(node, nodes.Assign):
            self.expression(node.node, local)
            return local | self.bind(node.target, "variable")
        if isinstance(node, nodes.AssignBlock):
            self.statements(node.body, local)
            return local | self.bind(node.target, "variable")
        if isinstance(node, nodes.Macro):
            for default in node.defaults:
                self.expression(default, local)
            params = {arg.name for arg in node.args} | {"varargs", "kwargs", "caller"}
            self.statements(node.body, local | params | {node.name})
            return local | {node.name}
        if isinstance(node, nodes.If):
            self.expression(node.test, local)
            # A name set in one branch is defined after the `if` when that branch ran.
            after = self.statements(node.body, local)
            for branch in node.elif_:
                after |= self.statement(branch, local)
            return after | self.statements(node.else_, local)
        for child in node.iter_child_nodes():
            if isinstance(child, nodes.Stmt):
                local = self.statement(child, local)
            else:
                self.expression(child, local)
        return local

    def bind(self, target: nodes.Node, kind: str) -> frozenset[str]:
        """The names a loop or `set` defines; one that hides a declared or Jinja name is refused."""
        names = [target, *target.find_all(nodes.Name)]
        bound = frozenset(n.name for n in names if isinstance(n, nodes.Name))
        for name in sorted(bound):
            if name in self.scope or name in _JINJA_NAMES:
                whose = "the policy's" if name in self.scope else "Jinja's"
                self.problems.append(
                    NameProblem(f"{kind} '{name}' hides {whose} '{name}'; give it another name", target.lineno)
                )
        return bound

    def expression(self, node: nodes.Node, local: frozenset[str]) -> None:
        if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
            self.resolve(node, local)
            return
        for child in node.iter_child_nodes():
            self.expression(child, local)

    def resolve(self, node: nodes.Node, local: frozenset[str]) -> tuple[Any, str]:
        if isinstance(node, nodes.Name):
            if node.name in local:
                return ANY, node.name
            if node.name not in self.scope:
                if node.name in self.bound_somewhere:
                    message = f"name '{node.name}' is read outside the loop or block that defines it"
                else:
                    message = unknown_name("name", node.name, self.scope)
                self.problems.append(NameProblem(message, node.lineno))
                return ANY, node.name
            return self.scope[node.name], node.name
        if isinstance(node, nodes.Getattr):
            return self.step(node, node.node, node.attr, local)
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            return self.step(node, node.node, node.arg.value, local)
        for child in node.iter_child_nodes():
            self.expression(child, local)
        return ANY, ""

    def step(self, node: nodes.Node, base_node: nodes.Node, attr: str, local: frozenset[str]) -> tuple[Any, str]:
        base, dotted = self.resolve(base_node, local)
        here = f"{dotted}.{attr}" if dotted else attr
        if isinstance(base, Mapping):
            if attr in base:
                return base[attr], here
            if dotted:
                self.problems.append(NameProblem(f"unknown field '{here}'{did_you_mean(attr, base)}", node.lineno))
        return ANY, here


# Parts that are constant but never worth evaluating: they build nothing.
_LITERALS = (nodes.Const, nodes.TemplateData)


def constant_problems(ast: nodes.Node) -> list[NameProblem]:
    """Constant parts (reading no name) that go past a cap, each reported once, at the smallest."""
    found: list[NameProblem] = []

    def visit(node: nodes.Node) -> bool:
        reported = False
        for child in node.iter_child_nodes():
            reported = visit(child) or reported
        if reported or not isinstance(node, nodes.Expr) or isinstance(node, _LITERALS):
            return reported
        try:
            check_literal_sizes(node)
        except LimitExceeded as exc:
            found.append(NameProblem(f"fails whenever it runs: {exc}", node.lineno))
            return True
        if isinstance(node, nodes.Name) or any(True for _ in node.find_all(nodes.Name)):
            return False
        evaluation = nodes.Template([nodes.Assign(nodes.Name("result", "store"), node)], lineno=1)
        try:
            Compiled(ENV.from_string(evaluation)).evaluate({})
        except LimitExceeded as exc:
            found.append(NameProblem(f"fails whenever it runs: {exc}", node.lineno))
            return True
        except Exception:
            return False
        return False

    visit(ast)
    return found


_SIZED_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_SIZED_FILTERS = frozenset({"center", "indent", "wordwrap", "batch", "slice"})


def _literal(node: nodes.Node | None) -> Any:
    return node.value if isinstance(node, nodes.Const) else None


def check_literal_sizes(node: nodes.Node) -> None:
    """A width written literally in a format or a size argument, whatever the values it applies to
    (`'{:>999999999}'.format(case.amount)`, `case.note.center(999999999)`)."""
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        method, owner = node.node.attr, _literal(node.node.node)
        if method in ("format", "format_map") and isinstance(owner, str):
            limits.check_format(Budget(), owner)
        elif method in _SIZED_METHODS and node.args:
            limits.check_width(_literal(node.args[0]), f"`{method}`")
    elif isinstance(node, nodes.Filter):
        if node.name == "format" and isinstance(_literal(node.node), str):
            limits.printf_widths(_literal(node.node))
        elif node.name in _SIZED_FILTERS and node.args:
            limits.check_width(_literal(node.args[0]), f"`{node.name}`")
    elif isinstance(node, nodes.Mod) and isinstance(_literal(node.left), str):
        limits.printf_widths(_literal(node.left))
