"""Windows: periods computed from the case (7 days from delivery), open or closed at the step's time.

Expressions read them as `windows.NAME`; a state timer may fall due at a window's end (`at:`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from policy_engine.language import CalendarDays, ExpressionError, compile_expression

if TYPE_CHECKING:
    from policy_engine.engine.context import StepContext


class OpenWindows(Mapping[str, bool]):
    """`windows.NAME`, computed only when an expression reads it."""

    def __init__(self, context: StepContext) -> None:
        self._context = context
        self._cache: dict[str, bool] = {}

    def __getitem__(self, name: str) -> bool:
        if name not in self._cache:
            self._cache[name] = window_open(self._context, name)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._context.policy.windows)

    def __len__(self) -> int:
        return len(self._context.policy.windows)

    def __contains__(self, name: object) -> bool:
        return name in self._context.policy.windows


def window_open(context: StepContext, name: str) -> bool:
    """Whether the step's time is inside the window; a window that cannot be computed is closed
    (and says why in the audit trail)."""
    try:
        bounds = window_bounds(context, name)
    except (ExpressionError, ValueError, TypeError) as exc:
        context.audit.window_failed(name, str(exc))
        return False
    return bounds is not None and bounds[0] <= context.now < bounds[1]


def window_end(context: StepContext, name: str) -> dt.datetime | None:
    """When the window closes; None when it cannot be computed or has no start."""
    try:
        bounds = window_bounds(context, name)
    except (ExpressionError, ValueError, TypeError):
        return None
    return None if bounds is None else bounds[1]


def window_bounds(context: StepContext, name: str) -> tuple[dt.datetime, dt.datetime] | None:
    """Start and end of a window, or None when it has no start or a length of zero or less."""
    window = context.policy.windows[name]
    names = context.names()
    start = as_datetime(compile_expression(window.from_)(names))
    if start is None:
        return None
    if window.length is not None:
        return start, context.due(start, window.length)
    count = window.months if window.months is not None else window.days
    if isinstance(count, str):
        count = compile_expression(count)(names)
    if count is None or int(count) <= 0:
        return None
    if window.months is not None:
        return start, context.calendar.add_months(start, int(count))
    return start, context.calendar.due(start, CalendarDays(int(count)))


def as_datetime(value: Any) -> dt.datetime | None:
    """A window's start as the expression gave it: a date-time, its ISO text, or nothing."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    raise TypeError(f"expected a date-time, got {value!r}")
