"""A working-day clock paused and resumed keeps the working-day time it had left, against the reference.

The `probe-clock` policy of test_clock_oracle.py (its `wdN` targets are `N working days`, on the
cn-mainland calendar file, pausing in `held`); the reference (`oracle_reference`) counts from the
calendar file itself. A pause over a weekend or a holiday neither grants nor takes a working day: the
time left at the pause is the time falling on working days until the due time, and the new due time
is where that much working-day time has passed after the resumption (docs/policy-language.md, "SLA
clocks"). A case opened with the earlier behaviour (its history has no `working-day-pauses` marker)
keeps the time left in elapsed seconds, as it ran.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import example, given, settings
from hypothesis import strategies as st

from policy_engine.engine import CaseState, OpenCase, fire_due, open_case, pauses_in_working_days, step
from policy_engine.language import PolicySet
from tests.policy_engine.engine.oracle_reference import (
    SECOND,
    add_working_day_seconds,
    instants,
    working_day_seconds_between,
    working_days_end,
)
from tests.policy_engine.engine.test_clock_oracle import PROBE, SHANGHAI, agent, opened

HOUR = 3600


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def held_and_resumed(key: str, start: dt.datetime, held: dt.datetime, resumed: dt.datetime) -> CaseState:
    case = step(PROBE, opened(key, start), agent("hold", held)).state
    assert case.sla["clock"].status == "paused"
    case = step(PROBE, case, agent("go_on", resumed)).state
    assert case.sla["clock"].status == "running"
    return case


def reference_due_after_pause(
    key_days: int, start: dt.datetime, held: dt.datetime, resumed: dt.datetime
) -> dt.datetime:
    left = working_day_seconds_between(held, working_days_end(start, key_days))
    return add_working_day_seconds(resumed, left)


def assert_met_until_due_then_breached(case: CaseState, due: dt.datetime) -> None:
    """Finished a second before the due time the clock is met; at the due time it breaches."""
    early = fire_due(PROBE, case, due - SECOND)
    assert early.sla["clock"].status == "running"
    assert step(PROBE, early, agent("finish", due - SECOND)).state.sla["clock"].status == "met"
    late = fire_due(PROBE, case, due)
    assert late.sla["clock"].status == "breached" and late.records.get("breached") is True


def test_a_pause_over_a_weekend_grants_no_working_day() -> None:
    # 2 working days from Thu 5 Nov 2026 are Fri and Mon: due Tue 00:00. Held Fri 16:00 with Fri's
    # 8 h and Monday left (32 h of working days), going on Mon 09:00: Mon's 15 h, then Tue to 17:00.
    start, held, resumed = at("2026-11-05 10:00"), at("2026-11-06 16:00"), at("2026-11-09 09:00")
    assert working_days_end(start, 2) == at("2026-11-10 00:00")
    case = held_and_resumed("wd2", start, held, resumed)
    assert case.sla["clock"].due == reference_due_after_pause(2, start, held, resumed) == at("2026-11-10 17:00")
    assert_met_until_due_then_breached(case, at("2026-11-10 17:00"))


def test_a_pause_over_national_day_counts_the_make_up_saturday() -> None:
    # 2 working days from Wed 30 Sep 2026 are Thu 8 and Fri 9 Oct (1-7 Oct are off): due Sat 10 Oct
    # 00:00. Held Sep 30 16:00 with 8 + 48 = 56 h of working days left, going on Fri 9 Oct 08:00:
    # Friday's 16 h, Saturday 10 Oct (a make-up working day) 24 h, Sunday off, Monday to 16:00.
    start, held, resumed = at("2026-09-30 10:00"), at("2026-09-30 16:00"), at("2026-10-09 08:00")
    case = held_and_resumed("wd2", start, held, resumed)
    assert case.sla["clock"].due == reference_due_after_pause(2, start, held, resumed) == at("2026-10-12 16:00")
    assert_met_until_due_then_breached(case, at("2026-10-12 16:00"))


def test_a_zero_length_pause_keeps_the_due_time() -> None:
    start = at("2026-11-05 10:00")
    case = held_and_resumed("wd2", start, at("2026-11-06 16:00"), at("2026-11-06 16:00"))
    assert case.sla["clock"].due == working_days_end(start, 2)


def test_a_case_opened_before_keeps_the_elapsed_time_it_had_left() -> None:
    """As a history without the `working-day-pauses` marker ran: the 80 h from Fri 16:00 to Tue 00:00,
    from Mon 09:00 on, over a weekend it counted twice."""
    start, held, resumed = at("2026-11-05 10:00"), at("2026-11-06 16:00"), at("2026-11-09 09:00")
    opening = OpenCase(case_id="K-1", case_type="probe_clock", data={"target": "wd2"}, at=start)
    case = open_case(PROBE, opening, working_day_pauses=False).state
    case = step(PROBE, case, agent("hold", held)).state
    assert case.sla["clock"].remaining_seconds == 80 * HOUR
    case = step(PROBE, case, agent("go_on", resumed)).state
    assert case.sla["clock"].due == at("2026-11-12 17:00")
    # A state carried from a release before the choice (no field) reads as such a case.
    carried = case.model_dump(mode="json")
    del carried["working_day_pauses"]
    assert CaseState.model_validate(carried).working_day_pauses is False
    assert opened("wd2", start).working_day_pauses is True


def test_only_a_policy_with_a_working_day_clock_that_pauses_counts_either_way(policy_set: PolicySet) -> None:
    """The workflow asks for the `working-day-pauses` patch only for such a policy: for any other the
    two ways of counting agree, and its cases carry no marker (the default policies have none)."""
    assert pauses_in_working_days(PROBE.policy)  # a working-day target among those a case may choose
    assert not [name for name, resolved in policy_set.policies.items() if pauses_in_working_days(resolved.policy)]
    never_paused = PROBE.policy.model_copy(
        update={"sla": {name: clock.model_copy(update={"pause": []}) for name, clock in PROBE.policy.sla.items()}}
    )
    assert not pauses_in_working_days(never_paused)


@settings(max_examples=150, deadline=None)
@given(
    start=instants(dt.date(2026, 1, 1), dt.date(2027, 9, 30)),
    days=st.integers(1, 20),
    share=st.integers(0, 99),
    pause_seconds=st.one_of(st.integers(0, 20 * 86400), st.sampled_from([1, HOUR, 9 * HOUR, 86400, 7 * 86400])),
)
@example(start=at("2026-09-30 10:00"), days=2, share=10, pause_seconds=8 * 86400)  # over National Day
@example(start=at("2026-02-13 20:00"), days=3, share=0, pause_seconds=86400)  # Spring Festival, Sat Feb 14 worked
def test_a_paused_working_day_clock_keeps_the_working_time_it_had_left(
    start: dt.datetime, days: int, share: int, pause_seconds: int
) -> None:
    key = f"wd{days}"
    due = working_days_end(start, days)
    held = start + dt.timedelta(seconds=int((due - start).total_seconds() * share // 100))
    resumed = held + dt.timedelta(seconds=pause_seconds)
    warning = opened(key, start).sla["clock"].warn_due
    assert warning is not None
    case = held_and_resumed(key, start, held, resumed)
    clock = case.sla["clock"]
    expected = add_working_day_seconds(resumed, working_day_seconds_between(held, due))
    assert clock.due == expected, (
        f"{days} working days from {start.isoformat()}, held {held.isoformat()}, resumed {resumed.isoformat()}:"
        f" engine {clock.due}, reference {expected}"
    )
    assert clock.warn_due == add_working_day_seconds(resumed, working_day_seconds_between(held, warning))
    # What runs before the pause and after it is the whole target, counted in working-day time.
    assert working_day_seconds_between(start, held) + working_day_seconds_between(resumed, expected) == (
        working_day_seconds_between(start, due)
    )
