"""Pick the policy an operator asks to see."""

from __future__ import annotations

import typer

from aftersales_cli.common import EXIT_INVALID, err_console
from policy_engine.language import ExpressionError, PolicySet, ResolvedPolicy, compile_expression


def resolve_for_show(
    policy_set: PolicySet, case_type: str, merchant: str | None, policy_id: str | None
) -> ResolvedPolicy:
    """By id, or the first candidate of the case type whose `when` mentions nothing or the merchant."""
    if policy_id:
        found = policy_set.policies.get(policy_id)
        if found is None:
            err_console.print(f"no policy '{policy_id}'; known: {', '.join(sorted(policy_set.policies))}")
            raise typer.Exit(EXIT_INVALID)
        return found
    candidates = policy_set.for_case_type(case_type)
    if not candidates:
        err_console.print(f"unknown case type '{case_type}'; known: {', '.join(policy_set.case_types)}")
        raise typer.Exit(EXIT_INVALID)
    # Try each candidate's `when` on a probe case that holds only the merchant: a condition that reads
    # anything else cannot be decided here and does not match.
    probe = {"merchant_id": merchant, "order": {"merchant_id": merchant}} if merchant else {}
    for resolved in candidates:
        when = resolved.policy.when
        if when is None:
            return resolved
        if not merchant:
            continue
        try:
            names = {"case": probe, "params": resolved.policy.parameters, "now": None}
            if compile_expression(when).test(names):
                return resolved
        except ExpressionError:
            continue
    return candidates[-1]
