"""The Jinja2 sandbox expressions and templates run in, with what one evaluation may build capped.

Jinja's sandbox stops attribute tricks but not size: `10 ** (3 * 10 ** 7)`, `'x' * 10 ** 9`,
`'{:>999999999}'.format(1)` or three nested loops over a long text run for minutes. Here every
operation that can grow a value is checked against `expression_limits` before it runs, loops and
macro calls count against a budget per evaluation, and lists, dictionaries and sets cannot be
changed in place (an expression has no business changing the case's data).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from jinja2 import StrictUndefined, nodes, pass_context
from jinja2 import Template as JinjaTemplate
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import FILTERS, make_attrgetter
from jinja2.runtime import Context, LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment

from policy_engine.language import expression_limits as limits
from policy_engine.language.expression_limits import MAX_RENDERED, Budget, LimitExceeded


class BudgetedContext(Context):
    """A render's context, carrying what the render has built so far."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.budget = Budget()


def budget_of(context: Context) -> Budget:
    """The budget of the render `context` belongs to (a fresh one outside our contexts)."""
    return context.budget if isinstance(context, BudgetedContext) else Budget()


class _Counted:
    """An iterable whose items each take a loop step from the budget; its length is the original's
    (Jinja's `loop.length` and `loop.last` read it)."""

    __slots__ = ("_budget", "_items")

    def __init__(self, budget: Budget, items: Any) -> None:
        self._budget = budget
        self._items = items

    def __iter__(self) -> Iterator[Any]:
        for item in self._items:
            self._budget.step()
            yield item

    def __len__(self) -> int:
        return len(self._items)


class _BoundedCodeGenerator(CodeGenerator):
    """Loops iterate through `environment.count_steps`, `~` joins through `environment.concat_built`."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        counted = nodes.Call(
            nodes.EnvironmentAttribute("count_steps"), [nodes.ContextReference(), node.iter], [], None, None
        )
        bounded = nodes.For(node.target, counted, node.body, node.else_, node.test, node.recursive, lineno=node.lineno)
        super().visit_For(bounded, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.concat_built(context, ")
        super().visit_Concat(node, frame)
        self.write(")")


class _Env(ImmutableSandboxedEnvironment):
    """Dictionaries are read by key only, so `case.items` is the field, never dict.items."""

    code_generator_class = _BoundedCodeGenerator
    context_class = BudgetedContext
    intercepted_binops = frozenset({"**", "*", "+", "%"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping):
            if attribute in obj:
                return obj[attribute]
            return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Mapping):
            if argument in obj:
                return obj[argument]
            return self.undefined(obj=obj, name=argument)
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        budget = budget_of(context)
        if operator == "**":
            return limits.power(left, right)
        if operator == "*":
            return limits.multiply(budget, left, right)
        if operator == "+":
            return limits.add(budget, left, right)
        if operator == "%" and isinstance(left, str):
            return limits.printf(budget, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = budget_of(__context)
        method = getattr(__obj, "__wrapped__", __obj)  # the sandbox hands out str.format wrapped
        owner = getattr(method, "__self__", None)
        if isinstance(owner, str) and isinstance(getattr(method, "__name__", None), str):
            args = limits.text_method(budget, owner, method.__name__, args, kwargs)
        elif isinstance(__obj, LoopContext) and args:  # `loop(children)` in a recursive loop
            args = (_Counted(budget, args[0]), *args[1:])
        elif isinstance(__obj, Macro):
            budget.step()
        return super().call(__context, __obj, *args, **kwargs)

    def count_steps(self, context: Context, items: Any) -> _Counted:
        return _Counted(budget_of(context), items)

    def concat_built(self, context: Context, value: Any) -> Any:
        return limits.built(budget_of(context), value, "`~`")


# Filters that take a size, or can make a text or list much longer than their input: checked first.
# All take the context, which also keeps Jinja from running them while compiling (constant folding).


@pass_context
def _center(context: Context, value: Any, width: Any = 80) -> Any:
    limits.text_method(budget_of(context), str(value), "center", (width,), {})
    return FILTERS["center"](value, width)


@pass_context
def _indent(context: Context, value: Any, width: Any = 4, first: bool = False, blank: bool = False) -> Any:
    text = str(value)
    limits.check_width(width, "`indent`")
    size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    budget_of(context).build(len(text) + (text.count("\n") + 1) * size, "`indent`")
    return FILTERS["indent"](value, width, first, blank)


@pass_context
def _format(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
    if args and kwargs:
        return FILTERS["format"](value, *args, **kwargs)  # Jinja refuses both, in its words
    return limits.printf(budget_of(context), str(value), kwargs or args)


@pass_context
def _join(context: Context, value: Any, d: str = "", attribute: Any = None) -> Any:
    items = list(value) if attribute is None else [make_attrgetter(context.environment, attribute)(v) for v in value]
    budget_of(context).build(limits.joined_size(str(d), items), "`join`")
    return FILTERS["join"](context.eval_ctx, items, d)


@pass_context
def _replace(context: Context, value: Any, old: Any, new: Any, count: Any = None) -> Any:
    budget_of(context).build(limits.replaced_size(str(value), str(old), str(new), count), "`replace`")
    return FILTERS["replace"](context.eval_ctx, value, old, new, count)


@pass_context
def _wordwrap(context: Context, value: Any, width: int = 79, *args: Any, **kwargs: Any) -> Any:
    limits.check_width(width, "`wordwrap`")
    wrap = kwargs.get("wrapstring", args[1] if len(args) > 1 else None)
    text = str(value)
    budget_of(context).build(len(text) * (1 + len(str(wrap or "\n"))), "`wordwrap`")
    return FILTERS["wordwrap"](context.environment, value, width, *args, **kwargs)


@pass_context
def _batch(context: Context, value: Any, linecount: Any, fill_with: Any = None) -> Any:
    limits.check_width(linecount, "`batch`")
    return FILTERS["batch"](value, linecount, fill_with)


@pass_context
def _slice(context: Context, value: Any, slices: Any, fill_with: Any = None) -> Any:
    limits.check_width(slices, "`slice`")
    return FILTERS["slice"](value, slices, fill_with)


@pass_context
def _sum(context: Context, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    items = (
        list(iterable) if attribute is None else [make_attrgetter(context.environment, attribute)(v) for v in iterable]
    )
    if isinstance(start, list | tuple) and all(isinstance(item, type(start)) for item in items):
        # Lists added one by one copy the sum so far each time: chained, they are copied once.
        budget_of(context).build(len(start) + sum(len(item) for item in items), "`sum`")
        return type(start)(itertools.chain(start, *items))
    return sum(items, start)


_BOUNDED_FILTERS = {
    "center": _center,
    "indent": _indent,
    "format": _format,
    "join": _join,
    "replace": _replace,
    "wordwrap": _wordwrap,
    "batch": _batch,
    "slice": _slice,
    "sum": _sum,
}

ENV = _Env(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
ENV.filters.update(_BOUNDED_FILTERS)


class Compiled:
    """A Jinja template run with a context built the cheap way.

    Jinja builds each render's context from a chain of the template's and the environment's globals,
    walking that chain twice per call; that cost more than evaluating the expression itself. The
    globals never change after compiling, so they are flattened once and each call only merges the
    names in. Errors propagate unchanged (no traceback rewriting), for the caller to turn into
    messages.
    """

    __slots__ = ("_blocks", "_globals", "_name", "_root")

    def __init__(self, template: JinjaTemplate) -> None:
        self._globals = dict(template.globals)
        self._root = template.root_render_func
        self._blocks = template.blocks
        self._name = template.name

    def context(self, names: Mapping[str, Any]) -> Context:
        return BudgetedContext(ENV, {**self._globals, **names}, self._name, self._blocks)

    def render(self, names: Mapping[str, Any]) -> str:
        pieces: list[str] = []
        size = 0
        for piece in self._root(self.context(names)):
            size += len(piece)
            if size > MAX_RENDERED:
                raise LimitExceeded(f"the text would be longer than {MAX_RENDERED:,} characters")
            pieces.append(piece)
        return "".join(pieces)

    def evaluate(self, names: Mapping[str, Any]) -> Any:
        """The value an expression template assigns to `result`."""
        ctx = self.context(names)
        for _ in self._root(ctx):
            pass
        return ctx.vars["result"]
