"""Windows: periods computed from the case (7 days from delivery), open or closed at the step's time.

Expressions read them as `windows.NAME`; a state timer may fall due at a window's end (`at:`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from policy_engine.engine.bounds import ARITHMETIC_ERRORS
from policy_engine.engine.redaction import without_values
from policy_engine.language import (
    CalendarDays,
    CalendarRangeError,
    ExpressionError,
    compile_expression,
    referenced_paths,
)

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
        context.audit.window_failed(name, without_values(str(exc)))
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
    """Start and end of a window, or None when it has no start or a length of zero or less.

    Raises ExpressionError, ValueError or TypeError when the window cannot be computed (its start is
    not a date-time, say), and OutOfRange when the case's values take it past the dates the engine
    can compute (a start in year 9999, a warranty of 30,000,000,000 months).
    """
    window = context.policy.windows[name]
    names = context.names()
    start = as_datetime(compile_expression(window.from_)(names))
    if start is None:
        return None
    count_text = window.months if window.months is not None else window.days
    try:
        if window.length is not None:
            return start, context.due(start, window.length)
        count = compile_expression(count_text)(names) if isinstance(count_text, str) else count_text
        whole = _whole_number(count)
        if whole is None or whole <= 0:
            return None
        if window.months is not None:
            return start, context.calendar.add_months(start, whole)
        return start, context.calendar.due(start, CalendarDays(whole))
    except CalendarRangeError:
        raise  # a year the calendar does not cover: the window is closed, as for any other such year
    except ARITHMETIC_ERRORS:
        texts = [window.from_, count_text if isinstance(count_text, str) else ""]
        raise context.out_of_range(f"{_fields_read(texts)} put window '{name}' out of range") from None


def _whole_number(count: Any) -> int | None:
    """A window's length in days or months; int() of inf or NaN raises (OverflowError, ValueError)."""
    if count is None:
        return None
    if isinstance(count, bool) or not isinstance(count, int | float):
        raise TypeError("the window's length is not a number")
    return int(count)


def _fields_read(texts: list[str]) -> str:
    """The fields of the case and of the event that expressions read, as a message names them."""
    paths = [p for text in texts if text for p in referenced_paths(text) if p.split(".")[0] in ("case", "event")]
    return ", ".join(f"`{p}`" for p in dict.fromkeys(paths)) or "the case's values"


def as_datetime(value: Any) -> dt.datetime | None:
    """A window's start as the expression gave it: a date-time, its ISO text, or nothing."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("the window's start is not an ISO 8601 date-time") from None
    if not isinstance(value, dt.datetime):
        raise TypeError("the window's start is not a date-time")
    if value.tzinfo is None:
        # Local time of whichever machine runs the engine: the window would differ between workers.
        raise ValueError("the window's start has no UTC offset")
    return value
