"""What one evaluation of an expression, or render of a template, may build.

Expressions run inside the worker that runs every case: one that computes a 30-million-digit number
or pads a text to a billion characters holds it (and the GIL) for minutes and takes gigabytes. Each
operation that can make something much bigger than its inputs is checked against these caps before
it runs; past one it raises LimitExceeded naming the cap, which the caller reports as the
expression's error. No real policy comes near them.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Sized
from typing import Any

# The digits a number computed with `**` or `*` may have.
MAX_NUMBER_DIGITS = 1000
# Characters and list items one evaluation may build with `*`, `+`, `~`, padding, joining, replacing
# and formatting, all together.
MAX_BUILT = 1_000_000
# A width or precision in a format (`'{:>10}'`, `'%10d'`) and a size argument (`center(80)`, `indent`).
MAX_FORMAT_WIDTH = 1000
# Loop iterations and macro calls in one evaluation, nested loops multiplied.
MAX_LOOP_STEPS = 10_000
# The characters a template may render.
MAX_RENDERED = 100_000


class LimitExceeded(Exception):
    """An evaluation went past one of the caps above; the message names it."""


class Budget:
    """What one evaluation has built and how many loop steps it took, checked as it goes."""

    __slots__ = ("built", "steps")

    def __init__(self) -> None:
        self.built = 0
        self.steps = 0

    def build(self, size: int, what: str) -> None:
        self.built += max(size, 0)
        if self.built > MAX_BUILT:
            raise LimitExceeded(f"{what} would build more than {MAX_BUILT:,} characters or list items")

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_LOOP_STEPS:
            raise LimitExceeded(f"more than {MAX_LOOP_STEPS:,} loop iterations and macro calls")


def _digits(number: int) -> int:
    return len(str(abs(number)))


def _check_digits(estimate: float, compute: Any, what: str) -> Any:
    """`compute()` when its number has at most MAX_NUMBER_DIGITS digits; `estimate` (its digits, up
    to rounding) refuses the hopeless ones without computing them."""
    message = f"{what} would make a number of more than {MAX_NUMBER_DIGITS:,} digits"
    if estimate > MAX_NUMBER_DIGITS + 2:
        raise LimitExceeded(message)
    result = compute()
    if isinstance(result, int) and _digits(result) > MAX_NUMBER_DIGITS:
        raise LimitExceeded(message)
    return result


def _is_int(value: Any) -> bool:
    return isinstance(value, int)


def power(base: Any, exponent: Any) -> Any:
    if _is_int(base) and _is_int(exponent) and exponent > 0 and abs(base) > 1:
        return _check_digits(exponent * math.log10(abs(base)), lambda: base**exponent, "`**`")
    return base**exponent


_SEQUENCES = (str, list, tuple)


def multiply(budget: Budget, left: Any, right: Any) -> Any:
    if _is_int(left) and _is_int(right):
        estimate = (left.bit_length() + right.bit_length()) * math.log10(2)
        return _check_digits(estimate, lambda: left * right, "`*`")
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, _SEQUENCES) and _is_int(count):
            budget.build(len(seq) * count, "`*`")
    return left * right


def add(budget: Budget, left: Any, right: Any) -> Any:
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        budget.build(len(left) + len(right), "`+`")
    return left + right


def built(budget: Budget, value: Any, what: str) -> Any:
    """A value already made from smaller ones (`a ~ b`), counted."""
    if isinstance(value, Sized):
        budget.build(len(value), what)
    return value


def check_width(width: Any, what: str) -> None:
    if _is_int(width) and width > MAX_FORMAT_WIDTH:
        raise LimitExceeded(f"{what}: a width of more than {MAX_FORMAT_WIDTH:,}")


# printf-style conversions: `%-10.2f`, `%(name)5s`; `*` takes the width from the values.
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([diouxXeEfFgGcrsa%])")


def printf(budget: Budget, fmt: str, values: Any) -> str:
    """`fmt % values`, its widths and precisions capped."""
    budget.build(len(fmt) + printf_widths(fmt), "`%` format")
    return str(fmt % values)


def printf_widths(fmt: str) -> int:
    """The widths and precisions of a printf-style format, each checked; their sum."""
    widths = 0
    for match in _PRINTF.finditer(fmt):
        for size in match.group(1, 2):
            if size == "*":
                raise LimitExceeded("`%` format: a width taken from the values (`*`) is not allowed")
            if size:
                check_width(int(size), "`%` format")
                widths += int(size)
    return widths


# A `str.format` spec: [[fill]align][sign][z][#][0][width][grouping][.precision][type].
_FORMAT_SPEC = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?(\d*)[,_]?(?:\.(\d*))?[a-zA-Z%]?")


def check_format(budget: Budget, fmt: str) -> None:
    """The widths and precisions of a `str.format` text, before it is formatted."""
    widths = 0
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # not a valid format: formatting it says why
    for _, name, spec, _ in fields:
        if name is None or not spec:
            continue
        if "{" in spec:
            raise LimitExceeded("`format`: a width taken from the values (`{}` inside a field) is not allowed")
        match = _FORMAT_SPEC.fullmatch(spec)
        for size in match.groups() if match else ():
            if size:
                check_width(int(size), "`format`")
                widths += int(size)
    budget.build(len(fmt) + widths, "`format`")


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def text_method(
    budget: Budget, text: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, ...]:
    """Checks a call of a text's method that can make a much longer text; returns the arguments to
    call it with (an iterable to join is read once, here)."""
    what = f"`{method}`"
    if method in ("center", "ljust", "rjust", "zfill"):
        width = _arg(args, kwargs, 0, "width", 0)
        check_width(width, what)
        if _is_int(width):
            budget.build(max(width, len(text)), what)
    elif method == "expandtabs":
        tabsize = _arg(args, kwargs, 0, "tabsize", 8)
        check_width(tabsize, what)
        if _is_int(tabsize):
            budget.build(len(text) + text.count("\t") * tabsize, what)
    elif method == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        budget.build(replaced_size(text, args[0], args[1], _arg(args, kwargs, 2, "count", -1)), what)
    elif method == "join" and args:
        items = list(args[0])
        budget.build(joined_size(text, items), what)
        return (items, *args[1:])
    elif method in ("format", "format_map"):
        check_format(budget, text)
    elif method == "translate":
        budget.build(len(text) * _longest_text(args[0] if args else {}), what)
    return args


def _replacements(text: str, old: str, count: Any) -> int:
    found = text.count(old) if old else len(text) + 1
    return min(found, count) if _is_int(count) and count >= 0 else found


def joined_size(separator: str, items: list[Any]) -> int:
    """The length of `separator.join(items)`, from the texts among the items."""
    return sum(len(item) for item in items if isinstance(item, str)) + len(separator) * max(len(items) - 1, 0)


def _longest_text(table: Any) -> int:
    values = table.values() if hasattr(table, "values") else ()
    return max((len(v) for v in values if isinstance(v, str)), default=1)


def replaced_size(text: str, old: str, new: str, count: Any) -> int:
    """The length of `text` with `old` replaced by `new` (at most `count` times when given)."""
    return len(text) + _replacements(text, old, count) * max(len(new) - len(old), 0)
