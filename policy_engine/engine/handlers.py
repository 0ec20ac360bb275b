"""Handlers and transitions: what an event, a timer, a breach or the opening does to the case.

A handler counts, takes decisions, sets variables, runs actions, may start an escalation ladder, and
may move the case to another state (`goto`, the first branch whose `if` holds). Moving leaves the
old state (its timers and ladders stop), enters the new one (SLA clocks, its timers, its
`on_enter`), and closes the case in a terminal state. Handlers and moves call each other (an
`on_enter` may move again), so they live together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from policy_engine.engine import sla
from policy_engine.engine.actions import run_actions
from policy_engine.engine.case import CloseCase, DecisionTaken, EventIn, PolicyFailed
from policy_engine.engine.ladders import start_ladder, state_cause, stop_ladder, stop_ladders_of
from policy_engine.engine.redaction import without_values
from policy_engine.engine.timeline import on_enter_via
from policy_engine.engine.timers import TimerName
from policy_engine.engine.windows import window_end
from policy_engine.language import Branch, ExpressionError, Handler, compile_expression, evaluate, plain

if TYPE_CHECKING:
    from policy_engine.engine.context import StepContext

# A handler that moves the case into a state whose on_enter moves it again, and so on: a policy could
# loop forever. The engine stops after this many moves in one step and records why.
MAX_MOVES_PER_STEP = 32


def run_handler(context: StepContext, handler: Handler, event: EventIn | None, ladder_cause: str) -> None:
    """Run a handler; `ladder_cause` is what a ladder it starts belongs to (see ladders.py)."""
    case = context.case
    for counter in handler.count:
        context.changed()
        case.counters[counter] = case.counters.get(counter, 0) + 1
        context.audit.counted(counter, case.counters[counter])
    for table in handler.decide:
        decide(context, table, event)
    apply_sets(context, handler.set, event)
    run_actions(context, handler.actions, event)
    if handler.escalate:
        start_ladder(context, handler.escalate, ladder_cause)
    if handler.goto is None:
        return
    if isinstance(handler.goto, str):  # the short form: no condition, just a move
        move(context, handler.goto, event)
        return
    for branch in handler.goto:
        if branch_matches(context, branch, event):
            run_branch(context, branch, event, ladder_cause)
            return


def branch_matches(context: StepContext, branch: Branch, event: EventIn | None) -> bool:
    if branch.if_ is None:
        return True
    try:
        return compile_expression(branch.if_).test(context.names(event))
    except ExpressionError as exc:
        error = without_values(str(exc), branch.if_)
        if not context.stop_on_policy_error:
            context.audit.condition_failed(error, branch.if_)
            return False
        raise PolicyFailed(
            f"a goto condition failed while handling '{context.via}': {error}",
            handling=context.via,
            condition=branch.if_,
        ) from None


def run_branch(context: StepContext, branch: Branch, event: EventIn | None, ladder_cause: str) -> None:
    if branch.set or branch.actions or branch.escalate:
        apply_sets(context, branch.set, event)
        run_actions(context, branch.actions, event)
        if branch.escalate:
            start_ladder(context, branch.escalate, ladder_cause)
    if branch.goto is not None:
        move(context, branch.goto, event)


def apply_sets(context: StepContext, sets: Mapping[str, str], event: EventIn | None) -> None:
    variables = context.case.vars
    for name, text in sets.items():
        try:
            value = compile_expression(text)(context.names(event))
        except ExpressionError as exc:
            context.audit.variable_failed(name, without_values(str(exc), text))
            continue
        kept = plain(value)
        context.check_value(kept, "vars", name)
        context.changed()
        variables[name] = kept
        context.audit.variable_set(name, variables[name])


def decide(context: StepContext, table: str, event: EventIn | None) -> None:
    outcome = evaluate(
        context.policy.decisions[table], context.names(event), skip_errors=not context.stop_on_policy_error
    )
    if outcome.error is not None:
        raise PolicyFailed(
            f"decision '{table}' failed at row '{outcome.rule}': {without_values(outcome.error)}",
            handling=context.via,
            decision=table,
            rule=outcome.rule,
            inputs=outcome.inputs,
        )
    if outcome.rule is not None:
        context.check_value(outcome.outputs, "decisions", table)
        context.changed()
        context.case.decisions[table] = DecisionTaken(rule=outcome.rule, outputs=outcome.outputs, at=context.now)
    skipped = [without_values(error) for error in outcome.skipped]
    context.audit.decision(table, outcome.rule, outcome.outputs, outcome.inputs, skipped)


# -- moving between states --------------------------------------------------------------------


def move(context: StepContext, target: str, event: EventIn | None) -> None:
    """Move the case from its current state (none while opening) to `target`."""
    context.moves += 1
    if context.moves > MAX_MOVES_PER_STEP:
        context.audit.moves_stopped(
            f"stopped after {MAX_MOVES_PER_STEP} moves in one step: the policy's on_enter handlers loop", target
        )
        return
    case = context.case
    source = case.state
    if source:
        leave(context, source)
    context.audit.transition(source or None, target, context.via)
    context.changed()
    case.state = target
    case.entered_at = context.now
    entered = context.policy.states[target]  # the policy's definition of the state entered
    sla.on_enter(context, target, entered.terminal)
    if entered.terminal:
        if entered.on_enter is not None:  # last words: a terminal state may notify, never move
            context.via = on_enter_via(target)
            run_actions(context, entered.on_enter.actions, event)
        close(context)
        return
    for timer_name, timer in entered.timers.items():
        if timer.after is not None:
            due = context.due(context.now, timer.after)
        else:
            end = window_end(context, timer.at or "")
            if end is None:
                context.audit.timer_not_set(timer_name, f"window '{timer.at}' has no start: timer not set")
                continue
            due = end
        context.start_timer(TimerName.of_state(target, timer_name), due)
    if entered.on_enter is not None:
        context.via = on_enter_via(target)
        run_handler(context, entered.on_enter, event, state_cause(target))


def leave(context: StepContext, source: str) -> None:
    """The case leaves `source`: its timers and the ladders started there stop."""
    context.cancel_timers_of("state", source)
    stop_ladders_of(context, state_cause(source))


def close(context: StepContext) -> None:
    """The case entered a terminal state: every timer and ladder stops, and the case closes."""
    case = context.case
    context.cancel_all_timers()
    for ladder in list(case.ladders):
        stop_ladder(context, ladder)
    case.closed = True
    case.closed_at = context.now
    context.commands.append(CloseCase(state=case.state))
    context.audit.closed(case.state)
