"""The terms every model of the language is made of: names, expressions and durations written as text
(each checked when the policy loads), and the base of the policy models."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict

from policy_engine.language.durations import Duration, parse_duration
from policy_engine.language.expressions import compile_expression

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")


def _check_duration(text: str) -> str:
    parse_duration(text)  # raises ValueError with an operator-friendly message
    return text


def _check_name(text: str) -> str:
    if not _NAME.match(text):
        raise ValueError(f"'{text}' is not a valid name: use letters, digits, '_' and '-', starting with a letter")
    return text


def _check_expression_syntax(text: str) -> str:
    if not text.strip():
        raise ValueError("an expression cannot be empty")
    compile_expression(text)
    return text


DurationText = Annotated[str, AfterValidator(_check_duration)]
Expr = Annotated[str, AfterValidator(_check_expression_syntax)]
# Names of states, events, timers, clocks, ladders...: no spaces or ':', which the engine relies on
# (timer names and the audit trail's `via` are built from them).
Name = Annotated[str, AfterValidator(_check_name)]


@lru_cache(maxsize=4096)
def duration_of(text: str) -> Duration:
    return parse_duration(text)


class PolicyModel(BaseModel):
    """A part of a policy: unknown keys are mistakes, and a loaded policy never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def one_or_many(value: Any) -> Any:
    """`count: reopens` is short for `count: [reopens]`."""
    return [value] if isinstance(value, str) else value
