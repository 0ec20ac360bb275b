"""Which policy runs a new case: candidates by case type, date and condition, in a stated order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from policy_engine.language.calendars import Calendar
from policy_engine.language.expressions import ExpressionError, compile_expression
from policy_engine.language.fields import normalise_data
from policy_engine.language.model import Policy
from policy_engine.language.problems import Problem
from policy_engine.language.resolved import ResolvedPolicy
from policy_engine.language.yamlsource import SourceMap


class SelectionError(ValueError):
    """No policy can run this case, or its data does not fit the policy that would."""

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        self.details = details or []
        super().__init__(message + ("".join(f"\n  - {d}" for d in self.details)))


def _sort_key(policy: Policy) -> tuple[int, int, int, str]:
    effective = policy.effective_from.toordinal() if policy.effective_from else 0
    return (policy.order, 0 if policy.when else 1, -effective, policy.policy)


def _local_date(policy: ResolvedPolicy, at: dt.datetime) -> dt.date:
    if policy.calendar is not None:
        return at.astimezone(policy.calendar.zone).date()
    return at.date()


@dataclass(frozen=True)
class PolicySet:
    policies: Mapping[str, ResolvedPolicy]
    calendars: Mapping[str, Calendar]
    # Where each calendar lists its years (a Problem without a message: its FILE:LINE:COL).
    calendar_years_at: Mapping[str, Problem] = field(default_factory=dict)

    @property
    def case_types(self) -> list[str]:
        return sorted({p.case_type for p in self.policies.values()})

    def for_case_type(self, case_type: str) -> list[ResolvedPolicy]:
        return list(self._by_case_type.get(case_type, ()))

    @cached_property
    def _by_case_type(self) -> dict[str, tuple[ResolvedPolicy, ...]]:
        """Candidates per case type in the order `select` tries them (sorted once: a set never changes)."""
        ordered = sorted(self.policies.values(), key=lambda p: _sort_key(p.policy))
        return {ct: tuple(p for p in ordered if p.case_type == ct) for ct in {p.case_type for p in ordered}}

    def select(self, case_type: str, data: Mapping[str, Any], opened_at: dt.datetime) -> ResolvedPolicy:
        """The policy that runs a case opened at `opened_at` with `data` (raises SelectionError)."""
        candidates = self._by_case_type.get(case_type, ())
        if not candidates:
            known = ", ".join(self.case_types)
            raise SelectionError(f"unknown case type '{case_type}' (known: {known})")
        for resolved in candidates:
            policy = resolved.policy
            day = _local_date(resolved, opened_at)
            if policy.effective_from and day < policy.effective_from:
                continue
            if policy.effective_until and day >= policy.effective_until:
                continue
            case, errors = normalise_data(policy.data, dict(data))
            if policy.when is not None:
                if errors:
                    continue
                try:
                    matched = compile_expression(policy.when).test(
                        {"case": case, "params": policy.parameters, "now": opened_at}
                    )
                except ExpressionError:
                    matched = False
                if not matched:
                    continue
            if errors:
                raise SelectionError(f"the case data does not fit policy '{policy.policy}'", errors)
            return resolved
        raise SelectionError(f"no policy for case type '{case_type}' is in effect on {opened_at.date()}")


def check_selection(policies: Mapping[str, tuple[Policy, SourceMap]]) -> list[Problem]:
    """Two policies of one case type that could both run the same case in the same order.

    Both without `when`, or both with the same `when` (an override copied for the same merchant): the
    order would fall to the policy ids, which is nobody's intent. Reported at the second one, in the
    order the files are read. Different conditions that can hold together are not found here.
    """
    problems: list[Problem] = []
    seen: dict[tuple[str | None, int, dt.date | None, str | None], str] = {}
    for pid, (policy, smap) in policies.items():
        when = " ".join(policy.when.split()) if policy.when is not None else None
        key = (policy.case_type, policy.order, policy.effective_from, when)
        if key not in seen:
            seen[key] = pid
            continue
        if when is None:
            message = (
                f"policies '{seen[key]}' and '{pid}' both run every '{policy.case_type}' case from the "
                "same date in the same order: give one a `when`, an `order` or another `effective_from`"
            )
        else:
            message = (
                f"policies '{seen[key]}' and '{pid}' have the same `when` ({when}), `order` and "
                f"`effective_from`: nothing says which runs the case; give one another `order` or "
                "`effective_from`, or merge them"
            )
        problems.append(smap.problem(("policy",), message))
    return problems
