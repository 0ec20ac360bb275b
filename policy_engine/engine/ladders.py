"""Escalation ladders: levels that fall due one after another until what started them ends.

A ladder is started by a handler's `escalate`; each level is a timer that, when it fires, raises the
case's escalation level and runs the level's actions. The ladder belongs to what started it (its
cause): leaving the state, or the SLA clock stopping, stops it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from policy_engine.engine.actions import run_actions
from policy_engine.engine.case import LadderState
from policy_engine.engine.timers import TimerName

if TYPE_CHECKING:
    from policy_engine.engine.context import StepContext

# What a ladder belongs to, as kept in `LadderState.cause` (and in the audit trail): the case as a
# whole, one state, or one SLA clock.
CASE_CAUSE = "case"


def state_cause(state: str) -> str:
    """The cause of ladders started in a state: leaving it stops them."""
    return f"state:{state}"


def clock_cause(clock: str) -> str:
    """The cause of ladders started by an SLA clock's handlers: the clock stopping stops them."""
    return f"sla:{clock}"


def start_ladder(context: StepContext, name: str, cause: str) -> None:
    case = context.case
    if name in case.ladders:
        return  # already climbing: a second trigger does not restart it
    case.ladders[name] = LadderState(started_at=context.now, cause=cause)
    context.audit.ladder_started(name, cause)
    for level in context.policy.escalations[name].levels:
        context.start_timer(TimerName.ladder_level(name, level.level), context.due(context.now, level.after))


def climb(context: StepContext, name: str, number: int) -> None:
    """Level `number` of ladder `name` fell due: raise the case's escalation level, run its actions."""
    case = context.case
    ladder = case.ladders.get(name)
    level = next((lv for lv in context.policy.escalations[name].levels if lv.level == number), None)
    if ladder is None or level is None:
        return
    ladder.level = number
    case.escalation_level = max(case.escalation_level, number)
    context.audit.ladder_climbed(name, number)
    run_actions(context, level.actions, None)


def stop_ladders_of(context: StepContext, cause: str) -> None:
    """Stop every ladder that belongs to `cause`."""
    for name in [name for name, ladder in context.case.ladders.items() if ladder.cause == cause]:
        stop_ladder(context, name)


def stop_ladder(context: StepContext, name: str) -> None:
    if context.cancel_timers_of("ladder", name):
        context.audit.ladder_stopped(name)
