"""Reference answers for the engine's oracles, written from the documents, not from the engine.

Nothing here imports `policy_engine`. The calendar and the policies are read straight from their YAML
files with `yaml.safe_load`, `extends` is merged here (JSON Merge Patch, RFC 7386, as
docs/policy-language.md says), and every count is done the slow, obvious way: one day at a time.

The rules, as docs/policy-language.md (Durations, Windows, Calendars) and ../shared/domain.md state them:

- `N calendar days`: day 1 is the day after the start's local date; the period ends when day N ends,
  at local midnight (signed for 2026-11-01 15:00, 7 days: due 2026-11-09 00:00).
- `N working days`: counted from the working day after the start; ends at the end of the Nth
  working day. A working day is a make-up working day (调休), or else a day that is neither a
  holiday nor a weekend day.
- `N months`: the last day is the start's day of the month N months on (the month's last day when it
  has no such day); the window ends at local midnight after it (2026-11-01 15:00 + 12 months:
  2027-11-02 00:00).
- `N business hours`: only time inside business hours on working days counts.
- the time an SLA clock has used (docs/ledger.md, `sla_clocks`) is counted in its target's base: for
  working days, the time falling on working days; for business hours, the time inside business hours.
- a window holds from its start (included) up to its end (excluded).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[3]
POLICY_DIR = ROOT / "policies"
ONE_DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)

# The roles of the language (docs/policy-language.md, "Events"): written down here, not imported.
ROLES = ("customer", "merchant", "agent", "supervisor", "mediator", "system")

_WEEKDAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


# ---------------------------------------------------------------------------------------------
# The calendar, from its file


@dataclass(frozen=True)
class RefCalendar:
    zone: ZoneInfo
    weekend: frozenset[int]
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    opens: dt.time
    closes: dt.time
    years: tuple[int, ...]


def _clock(text: str) -> dt.time:
    hours, minutes = str(text).split(":")
    return dt.time(int(hours), int(minutes))


def load_calendar(name: str = "cn-mainland") -> RefCalendar:
    raw = yaml.safe_load((POLICY_DIR / "calendars" / f"{name}.yaml").read_text(encoding="utf-8"))
    hours = raw.get("business_hours") or {}
    return RefCalendar(
        zone=ZoneInfo(raw["timezone"]),
        weekend=frozenset(_WEEKDAY_NAMES.index(d) for d in raw.get("weekend", ["saturday", "sunday"])),
        holidays=frozenset(entry["date"] for entry in raw.get("holidays") or []),
        workdays=frozenset(entry["date"] for entry in raw.get("workdays") or []),
        opens=_clock(hours.get("start", "09:00")),
        closes=_clock(hours.get("end", "18:00")),
        years=tuple(raw["years"]),
    )


CALENDAR = load_calendar()


def is_working_day(day: dt.date, cal: RefCalendar = CALENDAR) -> bool:
    if day in cal.workdays:  # a make-up working day is worked even on a weekend
        return True
    if day in cal.holidays:
        return False
    return day.weekday() not in cal.weekend


def local_midnight(day: dt.date, cal: RefCalendar = CALENDAR) -> dt.datetime:
    """The moment `day` begins, in the calendar's zone."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=cal.zone)


def calendar_days_end(start: dt.datetime, days: int, cal: RefCalendar = CALENDAR) -> dt.datetime:
    day = start.astimezone(cal.zone).date()  # the start's own day is day 0
    counted = 0
    while counted < days:
        day += ONE_DAY
        counted += 1
    return local_midnight(day + ONE_DAY, cal)  # the end of the last day


def working_days_end(start: dt.datetime, days: int, cal: RefCalendar = CALENDAR) -> dt.datetime:
    day = start.astimezone(cal.zone).date()
    counted = 0
    while counted < days:
        day += ONE_DAY
        assert day.year in cal.years, f"{day} is past the calendar's data"
        if is_working_day(day, cal):
            counted += 1
    return local_midnight(day + ONE_DAY, cal)


def months_end(start: dt.datetime, months: int, cal: RefCalendar = CALENDAR) -> dt.datetime:
    first = start.astimezone(cal.zone).date()
    year, month = first.year, first.month
    for _ in range(months):
        month += 1
        if month == 13:
            year, month = year + 1, 1
    day = first.day
    while True:  # the same day of the month, or the month's last day when it has none
        try:
            last = dt.date(year, month, day)
            break
        except ValueError:
            day -= 1
    return local_midnight(last + ONE_DAY, cal)


def business_periods(after: dt.datetime, cal: RefCalendar = CALENDAR) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """The business hours from `after` on, one (begin, end) per working day, the first one cut at `after`."""
    after = after.astimezone(cal.zone)
    day = after.date()
    while True:
        assert day.year in cal.years, f"{day} is past the calendar's data"
        if is_working_day(day, cal):
            begin = dt.datetime.combine(day, cal.opens, tzinfo=cal.zone)
            end = dt.datetime.combine(day, cal.closes, tzinfo=cal.zone)
            if end > after:
                yield max(begin, after), end
        day += ONE_DAY


def add_business_seconds(start: dt.datetime, seconds: int, cal: RefCalendar = CALENDAR) -> dt.datetime:
    """The first moment by which `seconds` of business time have passed since `start`."""
    left = dt.timedelta(seconds=seconds)
    for begin, end in business_periods(start, cal):
        if end - begin >= left:
            return begin + left
        left -= end - begin
    raise AssertionError("unreachable")


def business_seconds_between(a: dt.datetime, b: dt.datetime, cal: RefCalendar = CALENDAR) -> int:
    total = dt.timedelta(0)
    if b <= a:
        return 0
    for begin, end in business_periods(a, cal):
        if begin >= b:
            break
        total += min(end, b) - begin
    return int(total.total_seconds())


def working_day_seconds_between(a: dt.datetime, b: dt.datetime, cal: RefCalendar = CALENDAR) -> int:
    """The time from `a` to `b` that falls on working days (each from its local midnight to the next):
    what an `N working days` clock has used. A weekend or a holiday adds nothing."""
    total = dt.timedelta(0)
    day = a.astimezone(cal.zone).date()
    while local_midnight(day, cal) < b:
        if is_working_day(day, cal):
            begin = max(local_midnight(day, cal), a)
            end = min(local_midnight(day + ONE_DAY, cal), b)
            if end > begin:
                total += end - begin
        day += ONE_DAY
    return int(total.total_seconds())


def add_working_day_seconds(start: dt.datetime, seconds: int, cal: RefCalendar = CALENDAR) -> dt.datetime:
    """The first moment by which `seconds` falling on working days have passed since `start`: where a
    working-day clock resumed at `start` with that much time left falls due."""
    left = dt.timedelta(seconds=seconds)
    day = start.astimezone(cal.zone).date()
    while True:
        assert day.year in cal.years, f"{day} is past the calendar's data"
        if is_working_day(day, cal):
            begin = max(local_midnight(day, cal), start)
            end = local_midnight(day + ONE_DAY, cal)
            if end > begin:
                if end - begin >= left:
                    return begin + left
                left -= end - begin
        day += ONE_DAY


# Moments to draw: around every holiday and make-up working day, where counting goes wrong


_SPECIAL = sorted(CALENDAR.holidays | CALENDAR.workdays)
NEAR_SPECIAL = sorted({day + dt.timedelta(days=k) for day in _SPECIAL for k in range(-4, 5)})
OFFSETS = [
    dt.timezone(dt.timedelta(hours=8)),
    dt.UTC,
    dt.timezone(dt.timedelta(hours=-5)),
    dt.timezone(dt.timedelta(hours=14)),
    dt.timezone(dt.timedelta(hours=5, minutes=45)),
    dt.timezone(dt.timedelta(hours=-12)),
]
EDGE_SECONDS = [0, 1, 9 * 3600 - 1, 9 * 3600, 16 * 3600, 18 * 3600 - 1, 18 * 3600, 86399]


@st.composite
def instants(draw: Any, first: dt.date = dt.date(2026, 1, 1), last: dt.date = dt.date(2027, 12, 31)) -> dt.datetime:
    """A moment whose local (calendar-zone) day is drawn across the range, often near a holiday,
    written in one of several UTC offsets."""
    near = [d for d in NEAR_SPECIAL if first <= d <= last]
    day = draw(st.one_of(st.sampled_from(near), st.dates(first, last)))
    second = draw(st.one_of(st.sampled_from(EDGE_SECONDS), st.integers(0, 86399)))
    local = dt.datetime.combine(day, dt.time(0), tzinfo=CALENDAR.zone) + dt.timedelta(seconds=second)
    return local.astimezone(draw(st.sampled_from(OFFSETS)))


_CALENDAR_DAYS = re.compile(r"^(\d+) calendar days?$")


def calendar_days_of(text: str) -> int:
    """The N of an `N calendar days` length as the policy file writes it."""
    m = _CALENDAR_DAYS.match(text)
    assert m is not None, f"not a calendar-day length: {text!r}"
    return int(m.group(1))


# ---------------------------------------------------------------------------------------------
# Money


CENT = Decimal("0.01")


def to_cent(value: Any) -> Decimal:
    """An amount as money: to the cent, half up (the currency's smallest unit)."""
    return Decimal(repr(value) if isinstance(value, float) else str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


# ---------------------------------------------------------------------------------------------
# The policies, from their files


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: mappings merge key by key, null removes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge_patch(out.get(key), value)
    return out


def load_raw_policies(folder: Path = POLICY_DIR) -> dict[str, dict[str, Any]]:
    """Every policy of the folder by id, `extends` merged in, as plain YAML data."""
    declared: dict[str, dict[str, Any]] = {}
    for path in [*sorted(folder.glob("*.yaml")), *sorted((folder / "overrides").glob("*.yaml"))]:
        for item in yaml.safe_load(path.read_text(encoding="utf-8"))["policies"]:
            declared[item["policy"]] = item

    def merged(pid: str) -> dict[str, Any]:
        item = declared[pid]
        if "extends" not in item:
            return item
        # `abstract` marks the policy that says it; one that extends it runs cases unless it says so too.
        parent = {key: value for key, value in merged(item["extends"]).items() if key != "abstract"}
        result: dict[str, Any] = _merge_patch(parent, item)
        return result

    return {pid: merged(pid) for pid in declared}


RAW_POLICIES = load_raw_policies()


def handlers_on(state: dict[Any, Any]) -> dict[Any, Any]:
    """A state's `on:` mapping. YAML 1.1 (PyYAML's safe_load) reads the bare key `on` as the boolean
    true, so it is looked up under both."""
    found = state.get("on", state.get(True))
    return dict(found) if isinstance(found, dict) else {}


def is_terminal(raw: dict[str, Any], state: str) -> bool:
    return bool(raw["states"][state].get("terminal", False))


def party_of(raw: dict[str, Any], role: str, data: dict[str, Any]) -> str | None:
    """The id of the case's own party in `role`, as the file's `parties` binds it (`merchant:
    case.order.merchant_id`), read from the case data; None when the role is not bound or the case
    has no such text. The default policies bind plain case fields, the only form read here."""
    text = (raw.get("parties") or {}).get(role)
    if text is None:
        return None
    parts = str(text).strip().split(".")
    assert parts[0] == "case" and all(part.isidentifier() for part in parts), f"not a plain case field: {text!r}"
    node: Any = data
    for part in parts[1:]:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, str) and node else None


def sender_id(raw: dict[str, Any], role: str, data: dict[str, Any]) -> str:
    """An id the file lets send for `role` in this case: its own party's for a bound role."""
    return party_of(raw, role, data) or f"{role}-1"


def allowed_here(
    raw: dict[str, Any], state: str, event: str, role: str, actor_id: str, data: dict[str, Any]
) -> tuple[bool, str]:
    """Whether the policy, as its file reads, lets `role` (sender `actor_id`) send `event` in `state`
    to a case opened with `data`; if not, what the refusal must name: the state, the role or the event
    in quotes (an undeclared event is the caller's text and is not repeated: "unknown event"), or, for
    a sender who is not the case's own party in a bound role, "this case's ROLE"."""
    if is_terminal(raw, state):
        return False, f"'{state}'"
    events = raw.get("events") or {}
    if event not in events:
        return False, "unknown event"
    accepted = set(handlers_on(raw["states"][state])) | set(raw.get("any_state") or {})
    if event not in accepted:
        return False, f"'{state}'"
    if role not in events[event]["roles"]:
        return False, f"'{role}'"
    # Deny by default: a bound role is admitted only from the case's own party, and from no one when
    # the case names none.
    if role in (raw.get("parties") or {}):
        party = party_of(raw, role, data)
        if party is None:
            return False, f"no {role}"
        if actor_id != party:
            return False, f"this case's {role}"
    return True, ""


def event_names(raw: dict[str, Any]) -> list[str]:
    return sorted(raw.get("events") or {})
