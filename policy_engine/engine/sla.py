"""SLA clocks: a target (48 h, 8 business hours) that runs, pauses and stops as the case moves.

A clock starts in its start states, pauses in its pause states (keeping the time left), stops in its
stop states (met) or when the case closes (stopped), and breaches when its target passes; a warning
may fall due at a share of the target first.

The time left while paused is counted in the target's time base (`PauseBase`): business seconds on
a business-hour clock, seconds falling on working days on a working-day clock (so that a pause over
a weekend or a holiday neither grants nor takes a working day), elapsed seconds otherwise. A case
opened before the workflow's PATCH_WORKING_DAY_PAUSES counts a working-day clock's time left in
elapsed seconds, as it did then (`CaseState.working_day_pauses`). Its handlers (`on_warn`, `on_breach`) are run by the
caller of `warn` and `breach`, so that this module stays below the handlers.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Literal

from policy_engine.engine.case import SlaClockState
from policy_engine.engine.ladders import clock_cause, stop_ladders_of
from policy_engine.engine.timeline import sla_via
from policy_engine.engine.timers import TimerName
from policy_engine.language import (
    BusinessHours,
    Duration,
    ExpressionError,
    Handler,
    Policy,
    SlaClock,
    Target,
    WorkingDays,
    compile_expression,
    duration_of,
)

if TYPE_CHECKING:
    from policy_engine.engine.context import StepContext

# What a paused clock's time left is counted in: business seconds, seconds of working days, seconds.
PauseBase = Literal["business_hours", "working_days", "elapsed"]


def clock_target(context: StepContext, clock: SlaClock) -> Duration:
    """The clock's target for this case: fixed, or chosen by a value of the case (a P1 has 2 h)."""
    target = clock.target
    if isinstance(target, str):
        return duration_of(target)
    assert isinstance(target, Target)
    try:
        key = compile_expression(target.by)(context.names())
    except ExpressionError:
        key = None
    return duration_of(target.cases.get(str(key), target.default))


def start_clocks_at_opening(context: StepContext) -> None:
    """Clocks that start at `open`, once the opening's decisions are taken: their targets may depend
    on them (a P1 complaint has 2 h). A case closed while opening starts no clock."""
    case = context.case
    for name, clock in context.policy.sla.items():
        if "open" in clock.start and not case.closed and case.sla[name].status == "pending":
            start_clock(context, name, clock, case.sla[name])


def on_enter(context: StepContext, state: str, terminal: bool) -> None:
    """Bring every SLA clock up to date with `state`, which the case has just entered.

    Called by a transition after the case's state is set and before the state's timers and
    `on_enter` run, so that those see the clocks as they now stand. For each clock, in order:

    1. a new round: a `restart` clock that stopped in an earlier round begins again, pending, when
       the case enters one of its start states (the old round's result goes to `earlier_rounds`);
    2. a pending clock starts when the case enters one of its start states (pausing at once when
       that state is also one of its pause states);
    3. a clock that runs, is paused or has breached, and has not stopped, then stops when the state
       is one of its stop states (met) or terminal (stopped; a breach stays a breach); otherwise a
       running clock pauses in a pause state, and a paused clock resumes in any other state.

    A terminal state starts no clock and begins no round.
    """
    case = context.case
    for name, clock in context.policy.sla.items():
        clock_state = case.sla.get(name)
        if clock_state is None:
            clock_state = case.sla[name] = SlaClockState()
        if clock.restart and clock_state.stopped_at is not None and state in clock.start and not terminal:
            clock_state = case.sla[name] = SlaClockState(
                earlier_rounds=[*clock_state.earlier_rounds, clock_state.status]
            )
        if clock_state.status == "pending" and state in clock.start and not terminal:
            start_clock(context, name, clock, clock_state)
        if clock_state.status in ("running", "paused", "breached") and clock_state.stopped_at is None:
            if state in clock.stop or terminal:
                stop_clock(context, name, clock_state, reached_stop=state in clock.stop)
            elif clock_state.status == "running" and state in clock.pause:
                pause_clock(context, name, clock, clock_state)
            elif clock_state.status == "paused" and state not in clock.pause:
                resume_clock(context, name, clock, clock_state)


def start_clock(context: StepContext, name: str, clock: SlaClock, clock_state: SlaClockState) -> None:
    target = clock_target(context, clock)
    now = context.now
    clock_state.status = "running"
    clock_state.started_at = now
    clock_state.due = context.calendar.due(now, target)
    context.start_timer(TimerName.sla_breach(name), clock_state.due)
    if clock.warn_at is not None:
        clock_state.warn_due = _share_of(context, now, clock_state.due, clock.warn_at, target)
        context.start_timer(TimerName.sla_warning(name), clock_state.warn_due)
    context.audit.clock_running(name, clock_state.due)
    if context.case.state in clock.pause:
        pause_clock(context, name, clock, clock_state)


def pause_clock(context: StepContext, name: str, clock: SlaClock, clock_state: SlaClockState) -> None:
    base = _pause_base(context, clock)
    if clock_state.due is not None:
        clock_state.remaining_seconds = _seconds_until(context, clock_state.due, base)
    if clock_state.warn_due is not None and not clock_state.warned:
        clock_state.warn_remaining_seconds = _seconds_until(context, clock_state.warn_due, base)
    clock_state.status = "paused"
    clock_state.paused_at = context.now
    context.cancel_timer(TimerName.sla_breach(name))
    context.cancel_timer(TimerName.sla_warning(name))
    context.audit.clock_paused(name, clock_state.remaining_seconds)


def resume_clock(context: StepContext, name: str, clock: SlaClock, clock_state: SlaClockState) -> None:
    base = _pause_base(context, clock)
    clock_state.status = "running"
    clock_state.paused_at = None
    clock_state.due = _seconds_later(context, clock_state.remaining_seconds or 0, base)
    clock_state.remaining_seconds = None
    context.start_timer(TimerName.sla_breach(name), clock_state.due)
    if clock_state.warn_remaining_seconds is not None and not clock_state.warned:
        clock_state.warn_due = _seconds_later(context, clock_state.warn_remaining_seconds, base)
        clock_state.warn_remaining_seconds = None
        context.start_timer(TimerName.sla_warning(name), clock_state.warn_due)
    context.audit.clock_running(name, clock_state.due)


def stop_clock(context: StepContext, name: str, clock_state: SlaClockState, *, reached_stop: bool) -> None:
    context.cancel_timer(TimerName.sla_breach(name))
    context.cancel_timer(TimerName.sla_warning(name))
    clock_state.stopped_at = context.now
    if clock_state.status != "breached":
        clock_state.status = "met" if reached_stop else "stopped"
    clock_state.paused_at = None
    context.audit.clock_ended(name, clock_state.status)
    stop_ladders_of(context, clock_cause(name))


def warn(context: StepContext, name: str) -> Handler | None:
    """The clock's warning fell due: record it; returns `on_warn`, for the caller to run."""
    clock_state = context.case.sla[name]
    clock_state.warned = True
    context.audit.clock_warning(name, clock_state.due)
    context.via = sla_via(name, "warning")
    return context.policy.sla[name].on_warn


def breach(context: StepContext, name: str) -> Handler | None:
    """The clock's target passed: record the breach; returns `on_breach`, for the caller to run."""
    clock_state = context.case.sla[name]
    clock_state.status = "breached"
    clock_state.breached_at = context.now
    context.cancel_timer(TimerName.sla_warning(name))
    context.audit.clock_ended(name, "breached")
    context.via = sla_via(name, "breach")
    return context.policy.sla[name].on_breach


def _share_of(
    context: StepContext, start: dt.datetime, due: dt.datetime, share: float, target: Duration
) -> dt.datetime:
    """The time `share` of the way from `start` to `due` (in business time on business-hour clocks)."""
    if isinstance(target, BusinessHours):
        seconds = context.calendar.business_seconds_between(start, due)
        return context.calendar.add_business_seconds(start, int(seconds * share))
    return start + (due - start) * share


def pauses_in_working_days(policy: Policy) -> bool:
    """Whether a clock of the policy may pause with a target in working days (its fixed target, or
    any of those a case may choose): only then do the two ways of counting its time left differ."""
    for clock in policy.sla.values():
        if not clock.pause:
            continue
        target = clock.target
        texts = [target] if isinstance(target, str) else [target.default, *target.cases.values()]
        if any(isinstance(duration_of(text), WorkingDays) for text in texts):
            return True
    return False


def _pause_base(context: StepContext, clock: SlaClock) -> PauseBase:
    target = clock_target(context, clock)
    if isinstance(target, BusinessHours):
        return "business_hours"
    if isinstance(target, WorkingDays) and context.case.working_day_pauses:
        return "working_days"
    return "elapsed"


def _seconds_until(context: StepContext, until: dt.datetime, base: PauseBase) -> int:
    if base == "business_hours":
        return context.calendar.business_seconds_between(context.now, until)
    if base == "working_days":
        return context.calendar.working_day_seconds_between(context.now, until)
    return max(0, int((until - context.now).total_seconds()))


def _seconds_later(context: StepContext, seconds: int, base: PauseBase) -> dt.datetime:
    if base == "business_hours":
        return context.calendar.add_business_seconds(context.now, seconds)
    if base == "working_days":
        return context.calendar.add_working_day_seconds(context.now, seconds)
    return context.now + dt.timedelta(seconds=seconds)
