"""What the engine takes from a caller, bounded: numbers it can compute with, nesting it can walk.

Case data and event data are written by callers, not by operators. A value no arithmetic of the
engine can take (an amount of 10**30, NaN, a structure nested 10,000 deep) is refused at the door
with a reason that names the field, never its value: reasons travel into logs and histories, and a
caller's text there could forge lines or carry what should not be kept.

What slips past the door (a date of 9999-12-31 that a window pushes past year 9999, a warranty of
30,000,000,000 months) fails where it is computed: that place raises `OutOfRange` naming the fields
it read, and the step refuses the input whole (see `steps`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

# Nesting no real case reaches (the deepest declared field is 3 levels down); well below Python's
# recursion limit, so that every recursive walk of the data after this check is safe.
MAX_DEPTH = 32
# The largest whole number JSON carries exactly to every platform (JavaScript's safe integers): a
# larger one would mean another number on the way back. Floats are held to the same size.
MAX_NUMBER = 2**53 - 1

# Arithmetic on dates, durations and money that hostile values make fail: dates past year 9999,
# timedeltas past a billion days, a Decimal beyond its precision, int() of inf or NaN.
ARITHMETIC_ERRORS = (ArithmeticError, ValueError)

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class OutOfRange(Exception):
    """A value of the case or of an event takes the engine's arithmetic out of range.

    `reason` names the fields (or the window, variable, action) concerned, never a value.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def field_path(parts: Iterable[str | int]) -> str:
    """A field's path as messages write it (`order.items[2].price`). A key that is not a plain name
    (it came from a caller) is written `?`, so that no caller's text reaches a message."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if _PLAIN_NAME.fullmatch(part) else "?"
            out += f".{name}" if out else name
    return out


def data_problem(data: Any, at: tuple[str, ...] = ()) -> str | None:
    """Why data cannot be taken, or None: a number out of range, nesting too deep, a key that is not
    text. `at` is where the data is kept (`("vars", "total")`), for the message. Walks iteratively,
    so that any depth is refused rather than overflowing the stack."""
    pending: list[tuple[Any, tuple[str | int, ...]]] = [(data, at)]
    while pending:
        value, path = pending.pop()
        where = f"`{field_path(path)}`" if path else "the data"
        if len(path) - len(at) > MAX_DEPTH:
            # Named by the field it is kept in (a top field of the data, or `at`): the path down to the
            # limit would be a message of its own.
            return f"`{field_path(path[: max(len(at), 1)])}` is nested deeper than {MAX_DEPTH} levels"
        if isinstance(value, bool) or value is None or isinstance(value, str):
            continue
        if isinstance(value, int | float):
            problem = number_problem(value)
            if problem is not None:
                return f"{where} {problem}"
        elif isinstance(value, Mapping):
            for key, item in value.items():
                if not isinstance(key, str):
                    return f"{where} has a key that is not text"
                pending.append((item, (*path, key)))
        elif isinstance(value, list | tuple):
            pending.extend((item, (*path, index)) for index, item in enumerate(value))
    return None


def number_problem(value: int | float) -> str | None:
    """Why a number is out of the engine's range, said without the number; None when it is in."""
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if abs(value) > MAX_NUMBER:
        return f"must be between -{MAX_NUMBER} and {MAX_NUMBER}"
    return None
