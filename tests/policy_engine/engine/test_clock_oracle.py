"""SLA clocks in business hours, working days, calendar days and exact time, against the reference.

No default policy keeps a clock in business hours, so this test writes a small policy of its own
(`probe-clock`, loaded with the default calendar file): one clock whose target the case picks from a
range of durations (`case.target`), that pauses in `held`. The engine is asked through `open_case`,
`step` and `fire_due`; the reference (`oracle_reference`) counts from the calendar file.

- the due time of every target kind, and of the warning at 75% (of business time for a business-hour
  target); the breach fires at the due time, not a second before;
- a business-hour clock paused and resumed keeps the business time it had left; an exact one keeps
  the seconds it had left (docs/policy-language.md, "SLA clocks").
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from policy_engine.engine import Actor, CaseState, EventIn, OpenCase, fire_due, open_case, step
from policy_engine.language import load_policy_set
from tests.policy_engine.engine.oracle_reference import (
    POLICY_DIR,
    SECOND,
    add_business_seconds,
    business_seconds_between,
    calendar_days_end,
    instants,
    working_days_end,
)

# target key -> (kind, amount): half business hours, working days, calendar days, exact hours
TARGETS: dict[str, tuple[str, int]] = {
    **{f"bh{k}": ("business_half_hours", k) for k in range(1, 81)},
    **{f"wd{n}": ("working_days", n) for n in range(1, 61)},
    **{f"cd{n}": ("calendar_days", n) for n in range(1, 41)},
    **{f"ex{h}": ("hours", h) for h in range(1, 200)},
}


def duration_text(kind: str, amount: int) -> str:
    if kind == "business_half_hours":
        return f"{amount / 2:g} business hours"
    if kind == "working_days":
        return f"{amount} working days"
    if kind == "calendar_days":
        return f"{amount} calendar days"
    return f"{amount}h"


PROBE_POLICY = {
    "policies": [
        {
            "policy": "probe-clock",
            "title": "A clock whose target the case chooses (oracle test only)",
            "case_type": "probe_clock",
            "calendar": "cn-mainland",
            "locales": ["en"],
            "data": {"target": "string"},
            "events": {
                "hold": {"roles": ["agent"]},
                "go_on": {"roles": ["agent"]},
                "finish": {"roles": ["agent"]},
            },
            "open": {"goto": "running"},
            "states": {
                "running": {"on": {"hold": "held", "finish": "done"}},
                "held": {"on": {"go_on": "running", "finish": "done"}},
                "done": {"terminal": True},
            },
            "sla": {
                "clock": {
                    "start": "open",
                    "stop": ["done"],
                    "pause": ["held"],
                    "target": {
                        "by": "case.target",
                        "cases": {key: duration_text(*spec) for key, spec in TARGETS.items()},
                        "default": "1h",
                    },
                    "warn_at": "75%",
                    "on_warn": {"actions": [{"record": {"name": "warned", "value": "true"}}]},
                    "on_breach": {"actions": [{"record": {"name": "breached", "value": "true"}}]},
                }
            },
        }
    ]
}


def _load_probe() -> Any:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "probe.yaml"
        path.write_text(yaml.safe_dump(PROBE_POLICY, sort_keys=False), encoding="utf-8")
        return load_policy_set([POLICY_DIR / "calendars" / "cn-mainland.yaml", path]).select(
            "probe_clock", {"target": "bh1"}, dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        )


PROBE = _load_probe()


def reference_due(start: dt.datetime, key: str) -> dt.datetime:
    kind, amount = TARGETS[key]
    if kind == "business_half_hours":
        return add_business_seconds(start, amount * 1800)
    if kind == "working_days":
        return working_days_end(start, amount)
    if kind == "calendar_days":
        return calendar_days_end(start, amount)
    return start + dt.timedelta(hours=amount)


def reference_warning(start: dt.datetime, key: str, due: dt.datetime) -> dt.datetime | None:
    """75% of the target: of business time for a business-hour target, of elapsed time for an exact one.
    (The share of a day-counted target is not specified by the documents: not checked.)"""
    kind, amount = TARGETS[key]
    if kind == "business_half_hours":
        return add_business_seconds(start, amount * 1800 * 3 // 4)
    if kind == "hours":
        return start + (due - start) * 3 / 4
    return None


def opened(key: str, at: dt.datetime) -> CaseState:
    return open_case(PROBE, OpenCase(case_id="K-1", case_type="probe_clock", data={"target": key}, at=at)).state


def agent(name: str, at: dt.datetime) -> EventIn:
    return EventIn(name=name, actor=Actor(role="agent", id="A-1"), at=at)


SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@settings(max_examples=150, deadline=None)
@given(start=instants(dt.date(2026, 1, 1), dt.date(2027, 9, 30)), key=st.sampled_from(sorted(TARGETS)))
@example(start=dt.datetime(2026, 11, 2, 9, tzinfo=SHANGHAI), key="bh18")  # 9 business hours: 18:00 that day
@example(start=dt.datetime(2026, 9, 30, 17, tzinfo=SHANGHAI), key="bh4")  # over National Day: Oct 8 10:00
@example(start=dt.datetime(2026, 2, 13, 20, tzinfo=SHANGHAI), key="wd3")  # Spring Festival, Sat Feb 14 worked
def test_clock_falls_due_where_the_reference_says(start: dt.datetime, key: str) -> None:
    case = opened(key, start)
    due = reference_due(start, key)
    clock = case.sla["clock"]
    assert clock.due == due, (
        f"{duration_text(*TARGETS[key])} from {start.isoformat()}: engine {clock.due}, reference {due}"
    )
    warning = reference_warning(start, key, due)
    if warning is not None:
        assert clock.warn_due == warning, f"75% of {duration_text(*TARGETS[key])} from {start.isoformat()}"
        assert "warned" not in fire_due(PROBE, case, warning - SECOND).records
        assert fire_due(PROBE, case, warning).records.get("warned") is True
    assert fire_due(PROBE, case, due - SECOND).sla["clock"].status == "running"
    late = fire_due(PROBE, case, due)
    assert late.sla["clock"].status == "breached" and late.records.get("breached") is True


@settings(max_examples=150, deadline=None)
@given(
    start=instants(dt.date(2026, 1, 1), dt.date(2027, 9, 30)),
    key=st.sampled_from([k for k, (kind, _) in TARGETS.items() if kind in ("business_half_hours", "hours")]),
    share=st.integers(0, 99),
    pause_seconds=st.one_of(st.integers(0, 20 * 86400), st.sampled_from([1, 3600, 9 * 3600, 86400, 7 * 86400])),
)
def test_a_paused_clock_keeps_the_time_it_had_left(
    start: dt.datetime, key: str, share: int, pause_seconds: int
) -> None:
    business = TARGETS[key][0] == "business_half_hours"
    due = reference_due(start, key)
    warning = reference_warning(start, key, due)
    assert warning is not None
    held_at = start + dt.timedelta(seconds=int((due - start).total_seconds() * share // 100))
    resumed_at = held_at + dt.timedelta(seconds=pause_seconds)
    case = opened(key, start)
    case = step(PROBE, case, agent("hold", held_at)).state
    assert case.sla["clock"].status == "paused"
    case = step(PROBE, case, agent("go_on", resumed_at)).state
    clock = case.sla["clock"]
    assert clock.status == "running"
    if business:
        left = business_seconds_between(held_at, due)
        warn_left = business_seconds_between(held_at, warning)
        expected_due = add_business_seconds(resumed_at, left)
        expected_warning = add_business_seconds(resumed_at, warn_left)
    else:
        expected_due = resumed_at + (due - held_at)
        expected_warning = resumed_at + max(dt.timedelta(0), warning - held_at)
    assert clock.due == expected_due, (
        f"{duration_text(*TARGETS[key])} from {start.isoformat()}, held {held_at.isoformat()},"
        f" resumed {resumed_at.isoformat()}: engine {clock.due}, reference {expected_due}"
    )
    assert clock.warn_due == expected_warning
