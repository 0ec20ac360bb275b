"""Rule tables: the first row whose `if` holds gives the outputs; the audit trail cites its id.

A row that cannot be evaluated (its condition or a computed output errs) stops the table there: the
rows below it are not tried, since taking one of them would give another answer without anyone
knowing (a P2 complaint quietly handled as P3). The outcome carries the row and the error instead.

Pure and separate from the case engine so that it can be measured on its own (bench/decisions.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2.exceptions import TemplateError

from policy_engine.language.expressions import (
    ExpressionError,
    compile_expression,
    lookup_path,
    referenced_paths,
)
from policy_engine.language.model import Decision, Rule
from policy_engine.language.sandbox import ENV, Compiled


@dataclass
class Outcome:
    """Which row matched, its outputs and the inputs read; or, with `error`, the row that erred (no
    outputs: the decision is not taken). `rule` is None only for a table without a catch-all row."""

    rule: str | None
    outputs: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    # `skip_errors` (cases that began before erring rows stopped a table): the errors passed over.
    skipped: list[str] = field(default_factory=list)


def plain(value: Any) -> Any:
    """Values stored in the case are plain JSON data."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def output_value(value: Any, names: Mapping[str, Any]) -> Any:
    """A literal, or `=expression` computed from the case (an amount, say); raises ExpressionError."""
    if isinstance(value, str) and value.startswith("="):
        return plain(compile_expression(value[1:])(names))
    return plain(value)


def _matched(rule: Rule, names: Mapping[str, Any], inputs: dict[str, Any], skipped: list[str] | None = None) -> Outcome:
    if skipped is not None:  # the earlier semantics: an output that errs is None, its error kept
        outputs: dict[str, Any] = {}
        for key, value in rule.then.items():
            try:
                outputs[key] = output_value(value, names)
            except ExpressionError as exc:
                skipped.append(str(exc))
                outputs[key] = None
        return Outcome(rule.id, outputs, inputs, skipped=skipped)
    try:
        outputs = {k: output_value(v, names) for k, v in rule.then.items()}
    except ExpressionError as exc:
        return Outcome(rule.id, {}, inputs, str(exc))
    return Outcome(rule.id, outputs, inputs)


@dataclass(frozen=True)
class _Compiled:
    """The whole table as one `if/elif` template returning the matching row's index, so that a
    table costs one sandboxed render instead of one per row; and, per row, the inputs read up to it."""

    template: Compiled | None
    inputs_up_to: tuple[tuple[str, ...], ...]


_DELIMITERS = ("{%", "%}", "{{", "}}", "{#", "#}")


def _compile(decision: Decision) -> _Compiled:
    branches: list[str] = []
    seen: dict[str, None] = {}
    inputs_up_to: list[tuple[str, ...]] = []
    for index, rule in enumerate(decision.rules):
        if rule.if_ is None:
            branches.append(f"{{% else %}}{index}")
            inputs_up_to.append(tuple(seen))
            break
        keyword = "if" if index == 0 else "elif"
        branches.append(f"{{% {keyword} ({rule.if_}) %}}{index}")
        seen.update(dict.fromkeys(referenced_paths(rule.if_)))
        inputs_up_to.append(tuple(seen))
    # Template delimiters inside a condition (in a string literal) would change the template's shape.
    if any(mark in (rule.if_ or "") for rule in decision.rules for mark in _DELIMITERS):
        return _Compiled(None, tuple(inputs_up_to))
    source = "".join(branches)
    if source.startswith("{% else %}"):
        source = source.removeprefix("{% else %}")
    elif branches:
        source += "{% endif %}"
    try:
        template: Compiled | None = Compiled(ENV.from_string(source))
    except TemplateError:  # an expression that only makes sense on its own: evaluate row by row
        template = None
    return _Compiled(template, tuple(inputs_up_to))


def _compiled(decision: Decision) -> _Compiled:
    compiled: _Compiled | None = decision._compiled
    if compiled is None:
        compiled = _compile(decision)
        decision._compiled = compiled
    return compiled


def evaluate(decision: Decision, names: Mapping[str, Any], *, skip_errors: bool = False) -> Outcome:
    """First matching row wins; a row that errs stops the table (see the module's docstring).

    `skip_errors` keeps the earlier semantics for cases that began under it (their histories must
    replay as they ran): a row that errs is passed over and its error kept in `skipped`.
    """
    compiled = _compiled(decision)
    if compiled.template is not None:
        try:
            rendered = compiled.template.render(names)
        except Exception:  # a row erred: the row-by-row path finds which, with its message
            return evaluate_rows(decision, names, skip_errors=skip_errors)
        if rendered:
            index = int(rendered)
            inputs = {path: plain(lookup_path(names, path)) for path in compiled.inputs_up_to[index]}
            return _matched(decision.rules[index], names, inputs, [] if skip_errors else None)
    return evaluate_rows(decision, names, skip_errors=skip_errors)


def evaluate_rows(decision: Decision, names: Mapping[str, Any], *, skip_errors: bool = False) -> Outcome:
    """One row at a time, each condition on its own: the reference semantics of a table."""
    read: dict[str, Any] = {}
    skipped: list[str] | None = [] if skip_errors else None
    for rule in decision.rules:
        if rule.if_ is not None:
            for path in referenced_paths(rule.if_):
                if path not in read:
                    read[path] = plain(lookup_path(names, path))
            try:
                if not compile_expression(rule.if_).test(names):
                    continue
            except ExpressionError as exc:
                if skipped is None:
                    return Outcome(rule.id, {}, read, str(exc))
                skipped.append(f"{rule.id}: {exc}")
                continue
        return _matched(rule, names, read, skipped)
    # The validator requires a final catch-all row: only a table built without one (or, skipping
    # errors, one whose every row erred) gets here.
    return Outcome(None, {}, read, skipped=skipped or [])
