"""What a policy's expressions may read: the names in scope, and the kinds of values they hold.

The scope is a tree (see `expressions.check_names`): a mapping lists the known fields below a name,
None marks a leaf, ANY allows any field below. The engine builds the same names at run time
(`engine.context.StepContext.names`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policy_engine.language.fields import FieldSpec, field_paths
from policy_engine.language.model import Policy
from policy_engine.language.name_checks import ANY

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
    """The names in a handler of an event: the event's data and who sent it, too."""
    event = policy.events.get(event_name)
    scope = dict(base)
    scope["event"] = field_paths(event.data) if event else ANY
    scope["actor"] = {"role": None, "id": None}
    return scope


def template_scope(base: Scope) -> Scope:
    """The names a message template may read where it is sent."""
    return {**base, "case_id": None, "case_type": None}


# What kind of value a declared field holds, in the words messages use.
_SPEC_KINDS = {
    "string": "text",
    "number": "a number",
    "integer": "a number",
    "boolean": "true/false",
    "list": "a list",
    "object": "a mapping",
}


def field_spec(fields: Mapping[str, FieldSpec], parts: list[str]) -> FieldSpec | None:
    """The declaration of the field at `parts` (`["order", "merchant_id"]`); None when not declared."""
    spec: FieldSpec | None = None
    current: Mapping[str, FieldSpec] | None = fields
    for part in parts:
        spec = current.get(part) if current is not None else None
        if spec is None:
            return None
        current = spec.fields
    return spec


def field_kind(fields: Mapping[str, FieldSpec], parts: list[str]) -> str | None:
    """The kind of value the declared field at `parts` holds; None when not declared or not known."""
    spec = field_spec(fields, parts)
    return _SPEC_KINDS.get(spec.type) if spec is not None else None
