"""A ledger for the publication tests: cases in the week of 15 June 2026 (Shanghai) and at its edges."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.risk.test_watch import GeneratedCase, write

ZONE = "Asia/Shanghai"
SHANGHAI = ZoneInfo(ZONE)
WEEK_START, WEEK_END = dt.date(2026, 6, 15), dt.date(2026, 6, 22)  # a Monday, and the next
SCHEDULED = dt.datetime(2026, 6, 22, 1, tzinfo=SHANGHAI)  # the weekly schedule's run for that week


def _at(day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 6, day, hour, minute, second, tzinfo=SHANGHAI)


CASES = [
    GeneratedCase("IN-1", "M-1", "complaint", _at(15), ["met"], [5]),  # the week's first moment
    GeneratedCase("IN-2", "M-1", "return", _at(18, 12), ["met", "breached"], [2]),
    GeneratedCase("IN-3", "M-2", "complaint", _at(21, 23, 59, 59), ["breached"], [None]),  # its last second
    GeneratedCase("OUT-1", "M-2", "return", _at(22), ["met"], [5]),  # the next week
    GeneratedCase("OUT-2", "M-1", "return", _at(14, 23, 59, 59), ["breached", "breached"], [1]),  # the one before
]


def fill(folder: Path) -> str:
    url = f"sqlite:///{folder / 'ledger.sqlite3'}"
    write(url, CASES)
    return url


def in_week(case: GeneratedCase) -> bool:
    return WEEK_START <= case.opened_at.astimezone(SHANGHAI).date() < WEEK_END


def expected_on_time() -> dict[str, float]:
    """Per clock (`clock<i>`, the i-th clock of a case): met / (met + breached), from the cases of the week."""
    decided: dict[str, list[bool]] = {}
    for case in filter(in_week, CASES):
        for i, status in enumerate(case.clocks):
            decided.setdefault(f"clock{i}", []).append(status == "met")
    return {clock: sum(met) / len(met) for clock, met in decided.items()}


def expected_satisfaction(satisfied_score: int) -> float:
    answers = [a for case in filter(in_week, CASES) for a in case.answers if a is not None]
    return sum(a >= satisfied_score for a in answers) / len(answers)
