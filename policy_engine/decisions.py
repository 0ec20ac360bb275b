"""Rule tables: the first row whose `if` holds gives the outputs; the audit trail cites its id.

Pure and separate from the case engine so that it can be measured on its own (bench/decisions.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2.exceptions import TemplateError

from policy_engine.expressions import ENV, Compiled, ExpressionError, compile_expression, lookup_path, referenced_paths
from policy_engine.model import Decision


@dataclass
class Outcome:
    """Which row matched (None when every row erred), its outputs, the inputs read, the errors met."""

    rule: str | None
    outputs: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def plain(value: Any) -> Any:
    """Values stored in the case are plain JSON data."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def output_value(value: Any, names: Mapping[str, Any], errors: list[str]) -> Any:
    """A literal, or `=expression` computed from the case (an amount, say)."""
    if isinstance(value, str) and value.startswith("="):
        try:
            return plain(compile_expression(value[1:])(names))
        except ExpressionError as exc:
            errors.append(str(exc))
            return None
    return plain(value)


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


def evaluate(decision: Decision, names: Mapping[str, Any]) -> Outcome:
    """First matching row wins; a row whose condition errs is skipped and its error kept."""
    compiled = _compiled(decision)
    if compiled.template is not None:
        try:
            rendered = compiled.template.render(names)
        except Exception:  # a row erred: the row-by-row path skips it and keeps the error
            return evaluate_rows(decision, names)
        if rendered:
            index = int(rendered)
            rule = decision.rules[index]
            errors: list[str] = []
            inputs = {path: plain(lookup_path(names, path)) for path in compiled.inputs_up_to[index]}
            outputs = {k: output_value(v, names, errors) for k, v in rule.then.items()}
            return Outcome(rule.id, outputs, inputs, errors)
    return evaluate_rows(decision, names)


def evaluate_rows(decision: Decision, names: Mapping[str, Any]) -> Outcome:
    """One row at a time, each condition on its own: the reference semantics of a table."""
    read: dict[str, Any] = {}
    errors: list[str] = []
    for rule in decision.rules:
        if rule.if_ is not None:
            for path in referenced_paths(rule.if_):
                if path not in read:
                    read[path] = plain(lookup_path(names, path))
            try:
                if not compile_expression(rule.if_).test(names):
                    continue
            except ExpressionError as exc:
                errors.append(f"{rule.id}: {exc}")
                continue
        outputs = {k: output_value(v, names, errors) for k, v in rule.then.items()}
        return Outcome(rule.id, outputs, read, errors)
    # The validator requires a final catch-all row, so this only happens when every row errs.
    return Outcome(None, {}, read, errors)
