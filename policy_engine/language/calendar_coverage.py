"""Notes on calendars about to run out: a working-day or business-hour deadline in a year its calendar
file does not list cannot be computed, and a case that needs one is refused (its opening, or the event
or timer that needed the date) with the reason. Every case needs such dates from some day on, so the
operators hear of it ahead of time: `policy validate` prints these notes, the worker logs them when it
adopts a set.
"""

from __future__ import annotations

import datetime as dt

from policy_engine.language.problems import Problem
from policy_engine.language.selection import PolicySet

# How far ahead deadlines reach: the longest of the default policies are 45 working days (mediation,
# about 65 calendar days) and a 90-day repair window; 120 days gives a season's notice.
HORIZON_DAYS = 120


def coverage_notes(policy_set: PolicySet, today: dt.date, horizon_days: int = HORIZON_DAYS) -> list[Problem]:
    """One note per calendar whose years end before `today` + `horizon_days`, at its `years:` key."""
    notes: list[Problem] = []
    reach = today + dt.timedelta(days=horizon_days)
    for name, calendar in sorted(policy_set.calendars.items()):
        last = max(calendar.years)
        if reach.year <= last:
            continue
        missing = [year for year in range(today.year, reach.year + 1) if year not in calendar.years]
        if today.year not in calendar.years:
            said = f"calendar '{name}' does not cover this year ({today.year}): cases needing its dates are refused now"
        else:
            said = (
                f"calendar '{name}' covers up to {last}: deadlines from {dt.date(last + 1, 1, 1) - dt.timedelta(days=horizon_days)}"
                f" on may reach {last + 1}, and a case that needs a date there is refused"
            )
        at = policy_set.calendar_years_at.get(name)
        file, line, col = (at.file, at.line, at.col) if at is not None else (f"calendar {name}", 1, 1)
        notes.append(Problem(file, line, col, f"{said}; {_how_to_add(name, file, calendar.years, missing)}"))
    return notes


def _how_to_add(name: str, file: str, years: list[int], missing: list[int]) -> str:
    if name != "cn-mainland":  # the one calendar the generator knows
        return f"add {', '.join(map(str, missing))} (holidays and make-up working days) to {file}"
    every = " ".join(f"--year {year}" for year in sorted({*years, *missing}))
    return f"regenerate it with the year (and review the diff): `aftersales calendar generate {name} {every} -o {file}`"
