"""Durations of the policy language: exact time, calendar days, working days, business hours."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Exact:
    seconds: int


@dataclass(frozen=True)
class CalendarDays:
    days: int


@dataclass(frozen=True)
class WorkingDays:
    days: int


@dataclass(frozen=True)
class BusinessHours:
    minutes: int


Duration = Exact | CalendarDays | WorkingDays | BusinessHours

_EXACT = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_WORDS = re.compile(r"^(\d+(?:\.\d+)?) (calendar|working) days?$|^(\d+(?:\.\d+)?) business hours?$")
_HELP = "write 48h, 90m, 2d3h, '7 calendar days', '45 working days' or '8 business hours'"


def parse_duration(text: str) -> Duration:
    if not isinstance(text, str) or not text:
        raise ValueError(f"{text!r} is not a duration: {_HELP}")
    return _parse(text)


@lru_cache(maxsize=4096)
def _parse(text: str) -> Duration:
    """Durations are immutable, and policies and scenarios repeat a few texts many times."""
    m = _EXACT.match(text)
    if m and any(m.groups()):
        d, h, mi, s = (int(g) if g else 0 for g in m.groups())
        return Exact(((d * 24 + h) * 60 + mi) * 60 + s)
    w = _WORDS.match(text)
    if w:
        if w.group(3) is not None:
            return BusinessHours(round(float(w.group(3)) * 60))
        if "." in w.group(1):
            raise ValueError(f"'{text}': days are whole numbers")
        n = int(w.group(1))
        return CalendarDays(n) if w.group(2) == "calendar" else WorkingDays(n)
    raise ValueError(f"'{text}' is not a duration: {_HELP}")


def format_duration(d: Duration) -> str:
    if isinstance(d, CalendarDays):
        return f"{d.days} calendar day{'s' if d.days != 1 else ''}"
    if isinstance(d, WorkingDays):
        return f"{d.days} working day{'s' if d.days != 1 else ''}"
    if isinstance(d, BusinessHours):
        hours = d.minutes / 60
        text = f"{hours:g}"
        return f"{text} business hour{'s' if hours != 1 else ''}"
    total = d.seconds
    if total == 0:
        return "0s"
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")) if v)


def needs_calendar(d: Duration) -> bool:
    return isinstance(d, WorkingDays | BusinessHours)
