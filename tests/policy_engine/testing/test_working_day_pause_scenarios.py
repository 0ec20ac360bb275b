"""Policy tests of a working-day SLA clock held over a weekend and over National Day.

No default policy has a working-day clock that pauses, so these scenarios run on the `probe-clock`
policy of the engine's clock oracle (cn-mainland calendar; `target: wd2` is `2 working days`, held
in `held`). A policy test sees what an operator sees: the clock's result, what its breach recorded,
and the deadlines still open.
"""

from __future__ import annotations

from policy_engine.testing import parse_scenario_text, run_on_policy
from tests.policy_engine.engine.test_clock_oracle import PROBE

AGENT = "actor: {role: agent, id: A-1}"

# Thu 5 Nov 2026: due Tue 10 Nov 00:00 (Fri and Mon are its 2 working days); its warning at 75 % of
# that, Sun 8 Nov 20:30. Held Fri 16:00 with Friday's 8 h and Monday left (32 h of working days; the
# warning had 8 h), let go on Mon 09:00: the warning falls at Mon 17:00, the breach at Tue 17:00.
OVER_A_WEEKEND = f"""
case_type: probe_clock
case_id: WD-1
opened_at: 2026-11-05T10:00:00+08:00
data: {{target: wd2}}
events:
  - {{at: 2026-11-06T16:00:00+08:00, name: hold, {AGENT}}}
  - {{at: 2026-11-09T09:00:00+08:00, name: go_on, {AGENT}}}
"""

# Wed 30 Sep 2026: 1-7 Oct are off, so due Sat 10 Oct 00:00. Held 16:00 with 56 h of working days
# left, let go on Fri 9 Oct 08:00: Friday's 16 h, Saturday 10 Oct (a make-up working day) 24 h,
# Sunday off, Monday 12 Oct to 16:00.
OVER_NATIONAL_DAY = f"""
case_type: probe_clock
case_id: WD-2
opened_at: 2026-09-30T10:00:00+08:00
data: {{target: wd2}}
events:
  - {{at: 2026-09-30T16:00:00+08:00, name: hold, {AGENT}}}
  - {{at: 2026-10-09T08:00:00+08:00, name: go_on, {AGENT}}}
"""


def _failures(scenario: str, rest: str) -> list[str]:
    return run_on_policy(PROBE, parse_scenario_text(scenario + rest, "working-day-pauses.yaml")).failures


def test_held_over_a_weekend_the_clock_gets_the_working_day_time_it_had_left() -> None:
    running = """
until: 2026-11-09T16:59:59+08:00
expect:
  sla: {clock: running}
  timers: {sla:clock:warn: 2026-11-09T17:00:00+08:00, sla:clock:breach: 2026-11-10T17:00:00+08:00}
"""
    assert _failures(OVER_A_WEEKEND, running) == []
    met = f"""  - {{at: 2026-11-10T16:59:59+08:00, name: finish, {AGENT}}}
expect:
  sla: {{clock: met}}
  records: {{warned: true}}
"""
    assert _failures(OVER_A_WEEKEND, met) == []
    breached = """
until: 2026-11-10T17:00:00+08:00
expect:
  sla: {clock: breached}
  records: {warned: true, breached: true}
"""
    assert _failures(OVER_A_WEEKEND, breached) == []


def test_held_over_national_day_the_make_up_saturday_counts() -> None:
    met = f"""  - {{at: 2026-10-12T15:59:59+08:00, name: finish, {AGENT}}}
expect:
  state: done
  sla: {{clock: met}}
"""
    assert _failures(OVER_NATIONAL_DAY, met) == []
    breached = f"""  - {{at: 2026-10-12T16:00:00+08:00, name: finish, {AGENT}}}
expect:
  sla: {{clock: breached}}
  records: {{breached: true}}
"""
    assert _failures(OVER_NATIONAL_DAY, breached) == []


def test_a_wrong_expectation_says_where_the_clock_falls_due() -> None:
    """Expecting the earlier behaviour (the 80 h left counted in elapsed time, due Thu 12 Nov 17:00) fails."""
    earlier = """
until: 2026-11-09T12:00:00+08:00
expect:
  timers: {sla:clock:breach: 2026-11-12T17:00:00+08:00}
"""
    [failure] = _failures(OVER_A_WEEKEND, earlier)
    assert "2026-11-10T17:00:00+08:00" in failure
