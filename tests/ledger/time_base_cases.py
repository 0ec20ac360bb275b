"""Cases whose SLA clocks count in working days and business hours, and what they used, by the reference.

No default policy keeps such a clock, so `probe-time-bases` (loaded with the default calendar file)
has two that start at the opening, pause in `held` and stop in `done`: `reply` (12 business hours)
and `review` (2 working days). A case is opened, held, let go on and finished at the given moments by
the engine; the reference (tests/policy_engine/engine/oracle_reference.py, which reads the calendar
file itself) says how much of each target the running time used.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ledger.opening import CaseOpening, opening_of
from policy_engine.engine import Actor, CaseState, EventIn, OpenCase, open_case, step
from policy_engine.language import ResolvedPolicy, load_policy_set
from tests.policy_engine.engine.oracle_reference import (
    POLICY_DIR,
    business_seconds_between,
    working_day_seconds_between,
    working_days_end,
)

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
REPLY_HOURS = 12
REVIEW_DAYS = 2

PROBE_POLICY: dict[str, Any] = {
    "policies": [
        {
            "policy": "probe-time-bases",
            "title": "Clocks in business hours and working days (ledger tests only)",
            "case_type": "probe_time_bases",
            "calendar": "cn-mainland",
            "locales": ["en"],
            "data": {"merchant": "string"},
            "listing": {"merchant": "case.merchant"},
            "events": {"hold": {"roles": ["agent"]}, "go_on": {"roles": ["agent"]}, "finish": {"roles": ["agent"]}},
            "open": {"goto": "running"},
            "states": {
                "running": {"on": {"hold": "held", "finish": "done"}},
                "held": {"on": {"go_on": "running", "finish": "done"}},
                "done": {"terminal": True},
            },
            "sla": {
                "reply": {
                    "start": "open",
                    "stop": ["done"],
                    "pause": ["held"],
                    "target": f"{REPLY_HOURS} business hours",
                },
                "review": {
                    "start": "open",
                    "stop": ["done"],
                    "pause": ["held"],
                    "target": f"{REVIEW_DAYS} working days",
                },
            },
        }
    ]
}


def _load_probe() -> ResolvedPolicy:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "probe.yaml"
        path.write_text(yaml.safe_dump(PROBE_POLICY, sort_keys=False), encoding="utf-8")
        return load_policy_set([POLICY_DIR / "calendars" / "cn-mainland.yaml", path]).select(
            "probe_time_bases", {"merchant": "M-0"}, dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        )


PROBE = _load_probe()


@dataclass(frozen=True)
class HeldCase:
    """A case opened at `opened`, held from `held` to `resumed`, finished at `finished` (all before the due
    times, so both clocks are met)."""

    case_id: str
    merchant: str
    opened: dt.datetime
    held: dt.datetime
    resumed: dt.datetime
    finished: dt.datetime

    def run(self) -> CaseState:
        agent = Actor(role="agent", id="A-1")
        data = {"merchant": self.merchant}
        case = open_case(PROBE, OpenCase(case_id=self.case_id, case_type="probe_time_bases", data=data, at=self.opened))
        for name, at in (("hold", self.held), ("go_on", self.resumed), ("finish", self.finished)):
            case = step(PROBE, case.state, EventIn(name=name, actor=agent, at=at))
        return case.state

    def opening(self, case: CaseState) -> CaseOpening:
        return opening_of(PROBE, case)

    def reference(self) -> dict[str, dict[str, int]]:
        """Per clock, by the reference: its target, running and paused seconds in its time base."""
        review_due = working_days_end(self.opened, REVIEW_DAYS)
        return {
            "reply": {
                "target_seconds": REPLY_HOURS * 3600,  # business hours are counted in business time
                "running_seconds": business_seconds_between(self.opened, self.held)
                + business_seconds_between(self.resumed, self.finished),
                "paused_seconds": business_seconds_between(self.held, self.resumed),
            },
            "review": {
                "target_seconds": working_day_seconds_between(self.opened, review_due),
                "running_seconds": working_day_seconds_between(self.opened, self.held)
                + working_day_seconds_between(self.resumed, self.finished),
                "paused_seconds": working_day_seconds_between(self.held, self.resumed),
            },
        }


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


# Friday afternoon, held before Monday's business hours, going on after them, finished on Tuesday.
OVER_A_WEEKEND = HeldCase(
    "TB-1", "M-1", at("2026-11-06 16:00"), at("2026-11-09 07:00"), at("2026-11-09 20:00"), at("2026-11-10 12:00")
)
# The eve of National Day, held through the holidays, finished on Saturday 10 October, a make-up working day.
OVER_A_HOLIDAY = HeldCase(
    "TB-2", "M-2", at("2026-09-30 17:00"), at("2026-10-01 10:00"), at("2026-10-09 08:00"), at("2026-10-10 10:00")
)
CASES = (OVER_A_WEEKEND, OVER_A_HOLIDAY)
