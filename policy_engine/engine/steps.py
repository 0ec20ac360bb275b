"""The engine's entry points: open a case, check and apply an event, fire a due timer.

No I/O, no clock reads, no randomness. The Temporal workflow, the simulator, policy tests and what-if
runs all call these functions, so they cannot disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from policy_engine.engine import sla
from policy_engine.engine.bounds import ARITHMETIC_ERRORS, OutOfRange, data_problem
from policy_engine.engine.case import (
    Actor,
    CaseState,
    EventIn,
    OpenCase,
    OpenFailed,
    OpenRefused,
    PolicyFailed,
    RunAction,
    SlaClockState,
    StepResult,
    TimerDue,
)
from policy_engine.engine.context import StepContext, aware
from policy_engine.engine.handlers import run_handler
from policy_engine.engine.ladders import CASE_CAUSE, climb, clock_cause, state_cause
from policy_engine.engine.timeline import OPENING, escalation_via
from policy_engine.engine.timers import TimerName
from policy_engine.language import (
    ROLES,
    CalendarRangeError,
    ExpressionError,
    ResolvedPolicy,
    compile_expression,
    compile_template,
    normalise_data,
    plain,
)


def open_case(
    resolved: ResolvedPolicy,
    opening: OpenCase,
    *,
    stop_on_policy_error: bool = True,
    working_day_pauses: bool = True,
) -> StepResult:
    """Open a case on a resolved policy; raises OpenRefused when the data does not fit.

    `working_day_pauses` False keeps the time a paused working-day clock has left in elapsed seconds,
    as cases opened before the workflow's PATCH_WORKING_DAY_PAUSES did (see CaseState); the case
    keeps the choice for its life."""
    policy = resolved.policy
    if policy.case_type != opening.case_type:
        raise OpenRefused(f"policy '{resolved.id}' runs '{policy.case_type}' cases, not '{opening.case_type}'")
    problem = data_problem(opening.data)
    if problem is not None:
        raise OpenRefused("the case data does not fit the policy", [problem])
    data, errors = normalise_data(policy.data, opening.data)
    if errors:
        raise OpenRefused("the case data does not fit the policy", errors)
    at = aware(opening.at)
    case = CaseState(
        case_id=opening.case_id,
        case_type=opening.case_type,
        policy_id=resolved.id,
        policy_version=resolved.version,
        opened_at=at,
        state="",
        entered_at=at,
        data=data,
        links=dict(opening.links),
        vars={
            name: plain(spec.default) if spec.default is not None else None for name, spec in policy.variables.items()
        },
        counters={name: 0 for name in policy.counters},
        sla={name: SlaClockState() for name in policy.sla},
        working_day_pauses=working_day_pauses,
    )
    context = StepContext(resolved, case, at, stop_on_policy_error=stop_on_policy_error)
    context.audit.opened(opening.case_type, resolved.id, resolved.version)
    opening_handler = policy.open
    assert opening_handler is not None
    context.via = OPENING

    def run_opening() -> None:
        run_handler(context, opening_handler, None, CASE_CAUSE)
        sla.start_clocks_at_opening(context)

    try:
        out_of_range = _out_of_range(context, run_opening)
    except PolicyFailed as exc:
        raise OpenFailed(f"the policy failed while opening the case: {exc.message}") from None
    if out_of_range is not None:
        # Not OpenFailed: the data (or the calendar's years) is at fault, not the policy's rules; the
        # same case id may open again with corrected data, or once the calendar has the year.
        headline = CALENDAR_GAP if out_of_range.endswith(CALENDAR_HINT) else "the case data is out of range"
        raise OpenRefused(headline, [out_of_range])
    return StepResult(state=case, commands=context.commands)


# When an arithmetic error comes from a place that does not name what it computed.
SOME_VALUE_OUT_OF_RANGE = "a date or a number of the case is out of the range the engine computes with"
# A deadline in working days or business hours reached a year its calendar file does not list: the
# operators' calendar is short, not the case's data (every case would hit it from some date on).
CALENDAR_GAP = "the policy's calendar does not cover a date this case needs"
CALENDAR_HINT = "add the year to the calendar file (`aftersales calendar generate`)"


def _out_of_range(context: StepContext, run: Callable[[], None]) -> str | None:
    """Run a step's handlers; why the case's values took them out of range, or None.

    A window out of range inside an expression comes back as the expression's failure (a failed
    action, a decision row, a goto condition: PolicyFailed): the reason kept on the context wins.
    """
    try:
        run()
    except OutOfRange as exc:
        return context.out_of_range_reason or exc.reason
    except PolicyFailed:
        if context.out_of_range_reason is None:
            raise
    except CalendarRangeError as exc:  # a ValueError too: before the clause below, which names no cause
        return context.out_of_range_reason or f"{exc}: {CALENDAR_HINT}"
    except (*ARITHMETIC_ERRORS, RecursionError):
        return context.out_of_range_reason or SOME_VALUE_OUT_OF_RANGE
    return context.out_of_range_reason


def accepted_events(resolved: ResolvedPolicy, case: CaseState) -> dict[str, list[str]]:
    """Events the case accepts now, with the roles that may send each."""
    if case.closed:
        return {}
    policy = resolved.policy
    current = policy.states.get(case.state)
    names = list(current.on) if current else []
    names += [name for name in policy.any_state if name not in names]
    return {name: list(policy.events[name].roles) for name in names if name in policy.events}


def check_event(resolved: ResolvedPolicy, case: CaseState, event: EventIn) -> str | None:
    """Why the case refuses this event now, or None if it accepts it. Changes nothing.

    Besides the admission (state, role, party, data), the event is tried on a copy of the case: data
    that takes a window or an amount out of range is refused here too, as `step` refuses it.
    """
    reason = _admission(resolved, case, event)[0]
    if reason is not None:
        return reason
    return step(resolved, case, event).refused


def _admission(resolved: ResolvedPolicy, case: CaseState, event: EventIn) -> tuple[str | None, dict[str, Any]]:
    """Why the case refuses the event (or None), and the event's data in canonical form."""
    policy = resolved.policy
    if case.closed:
        return f"the case is closed (state '{case.state}')", {}
    spec = policy.events.get(event.name)
    if spec is None:
        # The name is the caller's: not repeated (it could be anything, of any length).
        return f"unknown event: '{case.case_type}' cases declare no event of that name", {}
    accepted = accepted_events(resolved, case)
    if event.name not in accepted:
        now = ", ".join(sorted(accepted)) or "none"
        return f"event '{event.name}' is not accepted in state '{case.state}' (accepted now: {now})", {}
    if event.actor.role not in spec.roles:
        # A role of the language is named; anything else is the caller's text, and is not.
        sender = f"role '{event.actor.role}'" if event.actor.role in ROLES else "the sender's role"
        return f"{sender} may not send '{event.name}' (allowed: {', '.join(spec.roles)})", {}
    refused = _not_the_party(resolved, case, event)
    if refused is not None:
        return refused, {}
    problem = data_problem(event.data)
    if problem is not None:
        return f"invalid data for '{event.name}': {problem}", {}
    normalised, errors = normalise_data(spec.data, event.data)
    if errors:
        return f"invalid data for '{event.name}': " + "; ".join(errors), {}
    if spec.require:
        names = StepContext(resolved, case, event.at).names(event.model_copy(update={"data": normalised}))
        for requirement in spec.require:
            try:
                ok = compile_expression(requirement.if_).test(names)
            except ExpressionError:
                # The expression's error may quote the event's values: the requirement is named instead.
                return f"'{event.name}' cannot be checked: `{requirement.if_}` could not be evaluated", {}
            if not ok:
                try:
                    return compile_template(requirement.message).render(names), {}
                except ExpressionError:
                    return requirement.message, {}
    return None, normalised


def _party_of(resolved: ResolvedPolicy, case: CaseState, role: str) -> str | None:
    """The id of this case's own party in `role`, as the policy's `parties` binds it; None when the
    role is not bound or the case has no such value (not text, empty, or the expression fails)."""
    text = resolved.policy.parties.get(role)
    if text is None:
        return None
    try:
        value = compile_expression(text)({"case": case.data})
    except ExpressionError:
        return None
    return value if isinstance(value, str) and value else None


def _not_the_party(resolved: ResolvedPolicy, case: CaseState, event: EventIn) -> str | None:
    """Why an event from a bound role is refused: its sender is not this case's party in that role
    (deny by default: a case without that value accepts it from no one). The reason names the role,
    never the sender's id or the case's."""
    role = event.actor.role
    if role not in resolved.policy.parties:
        return None
    party = _party_of(resolved, case, role)
    if party is None:
        return f"the case names no {role}, so no {role} may send '{event.name}'"
    if event.actor.id != party:
        return f"the sender is not this case's {role}: only the case's own {role} may send '{event.name}'"
    return None


def step(
    resolved: ResolvedPolicy, case: CaseState, received: EventIn | TimerDue, *, stop_on_policy_error: bool = True
) -> StepResult:
    """Apply one input (an event, or a timer that fell due) to a case; the caller's state is left untouched.

    A decision row or goto condition that cannot be evaluated stops the handler (see PolicyFailed);
    `stop_on_policy_error=False` passes over it instead, for cases that began before that rule.
    """
    work = working_copy(case)
    context = StepContext(resolved, work, received.at, stop_on_policy_error=stop_on_policy_error)
    if isinstance(received, TimerDue):
        return _timer_fell_due(context, case, received)
    if received.key is not None and received.key in work.event_keys:
        return StepResult(state=case, duplicate=True)
    reason, normalised = _admission(resolved, case, received)
    if reason is not None:
        return _refused(resolved, case, received, reason)
    event = received.model_copy(update={"data": normalised})
    if received.key is not None:
        work.event_keys.append(received.key)
    context.audit.event(received.name, received.actor, normalised, received.key)
    current = resolved.policy.states[work.state]
    handler = current.on.get(received.name) or resolved.policy.any_state[received.name]
    context.via = received.name
    try:
        out_of_range = _out_of_range(context, lambda: run_handler(context, handler, event, CASE_CAUSE))
    except PolicyFailed as exc:
        # Nothing of the event is applied (no half-run handler, no effect): the case stays as it was,
        # with the failure in its timeline. Its key is not kept, since the event did not happen.
        kept = working_copy(case)
        StepContext(resolved, kept, received.at).audit.event_not_applied(
            exc, received.name, received.actor, received.data
        )
        return StepResult(state=kept, failed=exc.message)
    if out_of_range is not None:
        return _refused(resolved, case, received, f"'{received.name}' is refused: {out_of_range}")
    return StepResult(state=work, commands=context.commands)


def _refused(resolved: ResolvedPolicy, case: CaseState, event: EventIn, reason: str) -> StepResult:
    """The case as it was, with the event refused: counted, and in the timeline (by its name when
    the policy declares it; an undeclared name is the caller's text, and is not kept)."""
    work = working_copy(case)
    work.refused += 1
    name = event.name if event.name in resolved.policy.events else ""
    StepContext(resolved, work, event.at).audit.refused(name, reason, event.actor, event.data)
    return StepResult(state=work, refused=reason)


def _timer_fell_due(context: StepContext, before: CaseState, timer: TimerDue) -> StepResult:
    case = context.case
    if timer.name not in case.timers or case.closed:
        return StepResult(state=case)  # cancelled or already fired: nothing to do
    del case.timers[timer.name]
    try:
        out_of_range = _out_of_range(context, lambda: _fire(context, timer))
    except PolicyFailed as exc:
        # Time has passed and cannot be undone (an SLA breach stays a breach): what the timer did up
        # to the failure stands, and nothing after it runs.
        context.audit.handler_stopped(exc, timer.name)
        return StepResult(state=case, commands=context.commands, failed=exc.message)
    if out_of_range is not None:
        # Nothing the timer did stands (half a handler would leave the case inconsistent); the timer
        # is spent, so that it does not fall due again and again, and the error says why.
        kept = working_copy(before)
        del kept.timers[timer.name]
        message = f"timer '{timer.name}' did nothing: {out_of_range}"
        StepContext(context.resolved, kept, timer.at).audit.timer_out_of_range(timer.name, message)
        return StepResult(state=kept, failed=message)
    return StepResult(state=case, commands=context.commands)


def _fire(context: StepContext, due: TimerDue) -> None:
    timer = TimerName.parse(due.name)
    if timer.kind == "state":
        handler = context.policy.states[timer.owner].timers[timer.which]
        context.audit.timer_fired(timer.which, timer.owner)
        context.via = timer.which
        run_handler(context, handler, None, state_cause(timer.owner))
    elif timer.kind == "sla":
        on_clock = sla.warn(context, timer.owner) if timer.which == "warn" else sla.breach(context, timer.owner)
        if on_clock is not None:
            run_handler(context, on_clock, None, clock_cause(timer.owner))
    else:
        context.via = escalation_via(timer.owner)
        climb(context, timer.owner, timer.level)


def fire_due(
    resolved: ResolvedPolicy,
    case: CaseState,
    now: dt.datetime,
    *,
    stop_on_policy_error: bool = True,
    apply: Callable[[CaseState, TimerDue], StepResult] | None = None,
    absorb: Callable[[StepResult, TimerDue], CaseState] | None = None,
) -> CaseState:
    """Fire every timer due at or before `now`, one step each, and return the case after the last.

    The earliest timer fires first (ties broken by name, see `CaseState.next_timer`), and each one
    on the case as the previous left it, until none is due or the case closes: the rule every driver
    follows (the workflow before each input and when it wakes, its validator's projection, the
    simulator before each scenario event).

    `apply` steps the case (default: `step` with `stop_on_policy_error`); `absorb` takes each result
    in and returns the case to go on with (default: the result's state), for drivers that run the
    commands or answer reports in between.
    """
    while not case.closed and (nxt := case.next_timer()) is not None and nxt[1] <= now:
        timer = TimerDue(name=nxt[0], at=nxt[1])
        if apply is None:
            result = step(resolved, case, timer, stop_on_policy_error=stop_on_policy_error)
        else:
            result = apply(case, timer)
        case = result.state if absorb is None else absorb(result, timer)
    return case


def report_event(resolved: ResolvedPolicy, command: RunAction, at: dt.datetime) -> EventIn | None:
    """The event by which an action's success comes back to the case (a refund completing)."""
    if command.reports is None:
        return None
    spec = resolved.policy.events.get(command.reports)
    if spec is None:
        return None
    return EventIn(
        name=command.reports,
        actor=Actor(role=spec.roles[0], id=f"action:{command.type}"),
        at=at,
        key=f"report:{command.key}",
    )


def listing(resolved: ResolvedPolicy, case: CaseState) -> dict[str, str | None]:
    """The merchant and priority that case lists show, as the policy's `listing` computes them."""
    names = StepContext(resolved, case, case.entered_at).names()
    out: dict[str, str | None] = {}
    for key in ("merchant", "priority"):
        text = getattr(resolved.policy.listing, key)
        value = None
        if text:
            try:
                value = compile_expression(text)(names)
            except ExpressionError:
                value = None
        out[key] = None if value is None else str(value)
    return out


def working_copy(case: CaseState) -> CaseState:
    """A copy whose containers may be changed without touching the caller's state.

    Cheaper than a deep copy: timeline entries are never changed once written, so they are shared.
    """
    return case.model_copy(
        update={
            "links": dict(case.links),
            "vars": {k: (list(v) if isinstance(v, list) else v) for k, v in case.vars.items()},
            "counters": dict(case.counters),
            "decisions": dict(case.decisions),
            "timers": dict(case.timers),
            "sla": {k: v.model_copy() for k, v in case.sla.items()},
            "ladders": {k: v.model_copy() for k, v in case.ladders.items()},
            "records": dict(case.records),
            "event_keys": list(case.event_keys),
            "timeline": list(case.timeline),
        }
    )
