"""The case engine: a pure function of (policy, case state, input, now) -> (new state, commands).

No I/O, no clock reads, no randomness. The Temporal workflow, the simulator, policy tests and what-if
runs all call `open_case`, `check_event` and `step`, so they cannot disagree.

Timer names the engine gives its drivers:
  `state:<state>:<timer>`   a state's timer
  `sla:<clock>:warn`, `sla:<clock>:breach`
  `ladder:<ladder>:<level>` an escalation level
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Any

from policy_engine.calendar import Calendar
from policy_engine.case import (
    Actor,
    CancelTimer,
    CaseState,
    CloseCase,
    Command,
    DecisionTaken,
    EventIn,
    LadderState,
    OpenCase,
    OpenFailed,
    OpenRefused,
    RunAction,
    SlaClockState,
    StartTimer,
    StepResult,
    TimelineEntry,
    TimerDue,
)
from policy_engine.decisions import evaluate as evaluate_decision
from policy_engine.decisions import plain
from policy_engine.durations import BusinessHours, CalendarDays, Duration
from policy_engine.expressions import (
    ExpressionError,
    compile_expression,
    compile_template,
)
from policy_engine.fields import normalise_data
from policy_engine.model import Action, Branch, Handler, Policy, SlaClock, Target, duration_of
from policy_engine.resolved import ResolvedPolicy


class PolicyFailed(Exception):
    """A decision row or a goto condition could not be evaluated (it compares a field the case does not
    have with a number, say).

    What the case does next depends on it, so the handler stops there: taking the next row or branch
    instead would quietly give another outcome (a P2 complaint handled as P3). `step` records an
    `error` entry; an event is then not applied at all, a timer's handler stops at the failure, and
    a case that fails while opening is refused (it has no state to stay in).
    """

    def __init__(self, message: str, detail: dict[str, Any]) -> None:
        self.message = message
        self.detail = detail
        super().__init__(message)


# A handler that moves the case into a state whose on_enter moves it again, and so on: a policy could
# loop forever. The engine stops after this many moves in one step and records why.
MAX_MOVES_PER_STEP = 32

UTC = dt.UTC


def _aware(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None:
        raise ValueError("times given to the engine must carry a UTC offset")
    return at


class _Windows(Mapping[str, bool]):
    """`windows.NAME`, computed only when an expression reads it."""

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._cache: dict[str, bool] = {}

    def __getitem__(self, name: str) -> bool:
        if name not in self._cache:
            self._cache[name] = self._run.window_open(name)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._run.policy.windows)

    def __len__(self) -> int:
        return len(self._run.policy.windows)

    def __contains__(self, name: object) -> bool:
        return name in self._run.policy.windows


class _Run:
    """One step of one case: the mutable working copy and the commands it produces."""

    def __init__(
        self, resolved: ResolvedPolicy, state: CaseState, now: dt.datetime, *, stop_on_policy_error: bool = True
    ) -> None:
        self.resolved = resolved
        # False only for cases that began before a failing row or condition stopped the handler
        # (the workflow asks `workflow.patched`): they pass over it as they did, to replay as they ran.
        self.stop_on_policy_error = stop_on_policy_error
        self.policy: Policy = resolved.policy
        calendar = resolved.calendar
        if calendar is None:
            raise ValueError(f"policy '{resolved.id}' has no calendar")
        self.calendar: Calendar = calendar
        self.s = state
        self.now = _aware(now)
        self.commands: list[Command] = []
        self.moves = 0
        self.version = resolved.short_version
        self.via = ""  # what moves the case now: an event, a timer, a breach (for the audit trail)
        # By the id of the event they were built for; events outlive the step, so ids are not reused.
        self._names: dict[int, dict[str, Any]] = {}

    # -- bookkeeping ------------------------------------------------------------------------

    def log(self, kind: str, name: str = "", **detail: Any) -> None:
        self.s.timeline.append(
            TimelineEntry(at=self.now, kind=kind, name=name, detail=detail, policy_version=self.version)  # type: ignore[arg-type]
        )

    def names(self, event: EventIn | None = None) -> dict[str, Any]:
        """What expressions may read now. Built once per event until the case changes (`changed`),
        since a handler evaluates many expressions between changes."""
        key = id(event)
        out = self._names.get(key)
        if out is None:
            out = self._names[key] = self._build_names(event)
        return out

    def changed(self) -> None:
        """The state, a decision, a counter or a variable changed: names are built afresh."""
        self._names.clear()

    def _build_names(self, event: EventIn | None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "case": self.s.data,
            "params": self.policy.parameters,
            "windows": _Windows(self),
            "decisions": {k: v.outputs for k, v in self.s.decisions.items()},
            "counters": self.s.counters,
            "vars": self.s.vars,
            "now": self.now,
            "state": self.s.state,
            "case_id": self.s.case_id,
            "case_type": self.s.case_type,
        }
        for table, decision in self.policy.decisions.items():
            if table not in out["decisions"]:
                # Not taken yet: its outputs read as none rather than failing.
                out["decisions"][table] = {k: None for k in decision.rules[0].then}
        if event is not None:
            out["event"] = event.data
            out["actor"] = {"role": event.actor.role, "id": event.actor.id}
        return out

    def due(self, start: dt.datetime, text: str) -> dt.datetime:
        return self.calendar.due(start, duration_of(text))

    def start_timer(self, name: str, due: dt.datetime) -> None:
        self.s.timers[name] = due
        self.commands.append(StartTimer(name=name, due=due))

    def cancel_timer(self, name: str) -> None:
        if self.s.timers.pop(name, None) is not None:
            self.commands.append(CancelTimer(name=name))

    # -- windows ----------------------------------------------------------------------------

    def window_open(self, name: str) -> bool:
        try:
            bounds = self.window_bounds(name)
        except (ExpressionError, ValueError, TypeError) as exc:
            self.log("decision", name, window=name, error=str(exc))
            return False
        return bounds is not None and bounds[0] <= self.now < bounds[1]

    def window_end(self, name: str) -> dt.datetime | None:
        try:
            bounds = self.window_bounds(name)
        except (ExpressionError, ValueError, TypeError):
            return None
        return None if bounds is None else bounds[1]

    def window_bounds(self, name: str) -> tuple[dt.datetime, dt.datetime] | None:
        """Start and end of a window, or None when it has no start or a length of zero or less."""
        window = self.policy.windows[name]
        names = self.names()
        start = _as_datetime(compile_expression(window.from_)(names))
        if start is None:
            return None
        if window.length is not None:
            return start, self.due(start, window.length)
        count = window.months if window.months is not None else window.days
        if isinstance(count, str):
            count = compile_expression(count)(names)
        if count is None or int(count) <= 0:
            return None
        if window.months is not None:
            return start, self.calendar.add_months(start, int(count))
        return start, self.calendar.due(start, CalendarDays(int(count)))

    # -- handlers ---------------------------------------------------------------------------

    def run_handler(self, handler: Handler, event: EventIn | None, cause: str) -> None:
        for counter in handler.count:
            self.changed()
            self.s.counters[counter] = self.s.counters.get(counter, 0) + 1
            self.log("counter", counter, value=self.s.counters[counter])
        for table in handler.decide:
            self.decide(table, event)
        self.apply_sets(handler.set, event)
        self.run_actions(handler.actions, event)
        if handler.escalate:
            self.start_ladder(handler.escalate, cause)
        if handler.goto is None:
            return
        if isinstance(handler.goto, str):  # the short form: no condition, just a move
            self.move(handler.goto, event)
            return
        for branch in handler.goto:
            if self.branch_matches(branch, event):
                self.run_branch(branch, event, cause)
                return

    def branch_matches(self, branch: Branch, event: EventIn | None) -> bool:
        if branch.if_ is None:
            return True
        try:
            return compile_expression(branch.if_).test(self.names(event))
        except ExpressionError as exc:
            if not self.stop_on_policy_error:
                self.log("transition", "", error=str(exc), condition=branch.if_)
                return False
            raise PolicyFailed(
                f"a goto condition failed while handling '{self.via}': {exc}",
                {"condition": branch.if_, "while": self.via},
            ) from None

    def run_branch(self, branch: Branch, event: EventIn | None, cause: str) -> None:
        if isinstance(branch, Branch) and (branch.set or branch.actions or branch.escalate):
            self.apply_sets(branch.set, event)
            self.run_actions(branch.actions, event)
            if branch.escalate:
                self.start_ladder(branch.escalate, cause)
        if branch.goto is not None:
            self.move(branch.goto, event)

    def apply_sets(self, sets: Mapping[str, str], event: EventIn | None) -> None:
        for name, text in sets.items():
            try:
                value = compile_expression(text)(self.names(event))
            except ExpressionError as exc:
                self.log("variable", name, error=str(exc))
                continue
            self.changed()
            self.s.vars[name] = plain(value)
            self.log("variable", name, value=self.s.vars[name])

    def decide(self, table: str, event: EventIn | None) -> None:
        outcome = evaluate_decision(
            self.policy.decisions[table], self.names(event), skip_errors=not self.stop_on_policy_error
        )
        if outcome.error is not None:
            raise PolicyFailed(
                f"decision '{table}' failed at row '{outcome.rule}': {outcome.error}",
                {"decision": table, "rule": outcome.rule, "inputs": outcome.inputs, "while": self.via},
            )
        detail: dict[str, Any] = {"rule": outcome.rule, "outputs": outcome.outputs, "inputs": outcome.inputs}
        if outcome.skipped:
            detail["errors"] = outcome.skipped
        if outcome.rule is not None:
            self.changed()
            self.s.decisions[table] = DecisionTaken(rule=outcome.rule, outputs=outcome.outputs, at=self.now)
        self.log("decision", table, **detail)

    # -- actions ----------------------------------------------------------------------------

    def run_actions(self, actions: list[Action], event: EventIn | None) -> None:
        for action in actions:
            self.run_action(action, event)

    def run_action(self, action: Action, event: EventIn | None) -> None:
        kind = action.type
        names = self.names(event)
        try:
            params, reports = self.action_params(action, names)
        except ExpressionError as exc:
            self.log("action", kind, error=str(exc), ran=False)
            return
        if action.record is not None:
            self.s.records[action.record.name] = params["value"]
            self.log("action", kind, params=params)
            return
        if action.escalate is not None:
            self.s.escalation_level = max(self.s.escalation_level, action.escalate.level)
        self.s.action_seq += 1
        key = f"{self.s.case_id}/{self.s.action_seq}/{kind}"
        self.commands.append(RunAction(key=key, type=kind, params=params, reports=reports))
        self.log("action", kind, key=key, params=params)

    def action_params(self, action: Action, names: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        def ev(text: str) -> Any:
            return plain(compile_expression(text)(names))

        if action.notify is not None:
            return self.notification(action.notify.template, action.notify.to, names), None
        if action.refund is not None:
            return {"amount": ev(action.refund.amount)}, action.refund.reports
        if action.advance_payment is not None:
            return {
                "amount": ev(action.advance_payment.amount),
                "reason": action.advance_payment.reason,
            }, None
        if action.assign is not None:
            return {"to": action.assign.to}, None
        if action.escalate is not None:
            return {"to": action.escalate.to, "level": action.escalate.level}, None
        if action.open_case is not None:
            case_type = ev(action.open_case.case_type)
            data = (
                {k: ev(v) for k, v in action.open_case.data.items()}
                if action.open_case.data is not None
                else dict(self.s.data)
            )
            link_id = f"{self.s.case_id}-{case_type}-{self.s.action_seq + 1}"
            return {
                "case_type": case_type,
                "case_id": link_id,
                "data": data,
                "linked_to": self.s.case_id,
            }, None
        if action.record is not None:
            return {"name": action.record.name, "value": ev(action.record.value)}, None
        raise AssertionError(f"action type {action.type} has no parameters rule")

    def notification(self, template: str, to: list[str], names: Mapping[str, Any]) -> dict[str, Any]:
        locale = self.customer_locale(names)
        texts = self.resolved.templates.get(template, {})
        source = texts.get(locale) or next(iter(texts.values()), "")
        message = compile_template(source).render(names)
        return {"to": list(to), "template": template, "locale": locale, "message": message}

    def customer_locale(self, names: Mapping[str, Any]) -> str:
        locales = self.policy.locales
        if self.policy.locale:
            try:
                value = compile_expression(self.policy.locale)(names)
                if value in locales:
                    return str(value)
            except ExpressionError:
                pass
        return locales[0]

    # -- moving between states --------------------------------------------------------------------

    def move(self, target: str, event: EventIn | None) -> None:
        self.moves += 1
        if self.moves > MAX_MOVES_PER_STEP:
            self.log(
                "transition",
                "",
                error=f"stopped after {MAX_MOVES_PER_STEP} moves in one step: the policy's on_enter handlers loop",
                to=target,
            )
            return
        source = self.s.state
        if source:
            self.leave(source)
        self.log("transition", "", **{"from": source or None, "to": target, "via": self.via})
        self.changed()
        self.s.state = target
        self.s.entered_at = self.now
        state = self.policy.states[target]
        self.sla_on_enter(target, state.terminal)
        if state.terminal:
            if state.on_enter is not None:  # last words: a terminal state may notify, never move
                self.via = f"{target} on_enter"
                self.run_actions(state.on_enter.actions, event)
            self.close()
            return
        for tname, timer in state.timers.items():
            if timer.after is not None:
                due = self.due(self.now, timer.after)
            else:
                end = self.window_end(timer.at or "")
                if end is None:
                    self.log("timer", tname, error=f"window '{timer.at}' has no start: timer not set")
                    continue
                due = end
            self.start_timer(f"state:{target}:{tname}", due)
        if state.on_enter is not None:
            self.via = f"{target} on_enter"
            self.run_handler(state.on_enter, event, f"state:{target}")

    def leave(self, source: str) -> None:
        prefix = f"state:{source}:"
        for name in [n for n in self.s.timers if n.startswith(prefix)]:
            self.cancel_timer(name)
        self.stop_ladders(f"state:{source}")

    def close(self) -> None:
        for name in list(self.s.timers):
            self.cancel_timer(name)
        for lname in list(self.s.ladders):
            self.stop_ladder(lname)
        self.s.closed = True
        self.s.closed_at = self.now
        self.commands.append(CloseCase(state=self.s.state))
        self.log("close", self.s.state)

    # -- SLA clocks -------------------------------------------------------------------------------

    def clock_target(self, clock: SlaClock) -> Duration:
        target = clock.target
        if isinstance(target, str):
            return duration_of(target)
        assert isinstance(target, Target)
        try:
            key = compile_expression(target.by)(self.names())
        except ExpressionError:
            key = None
        return duration_of(target.cases.get(str(key), target.default))

    def sla_on_enter(self, state: str, terminal: bool) -> None:
        for cname, clock in self.policy.sla.items():
            cs = self.s.sla.get(cname) or self.s.sla.setdefault(cname, SlaClockState())
            if clock.restart and cs.stopped_at is not None and state in clock.start and not terminal:
                cs = self.s.sla[cname] = SlaClockState(earlier_rounds=[*cs.earlier_rounds, cs.status])
            if cs.status == "pending" and state in clock.start and not terminal:
                self.sla_start(cname, clock, cs)
            if cs.status in ("running", "paused", "breached") and cs.stopped_at is None:
                if state in clock.stop or terminal:
                    self.sla_stop(cname, cs, reached_stop=state in clock.stop)
                elif cs.status == "running" and state in clock.pause:
                    self.sla_pause(cname, clock, cs)
                elif cs.status == "paused" and state not in clock.pause:
                    self.sla_resume(cname, clock, cs)

    def sla_start(self, cname: str, clock: SlaClock, cs: SlaClockState) -> None:
        target = self.clock_target(clock)
        cs.status = "running"
        cs.started_at = self.now
        cs.due = self.calendar.due(self.now, target)
        self.start_timer(f"sla:{cname}:breach", cs.due)
        if clock.warn_at is not None:
            cs.warn_due = self._fraction(self.now, cs.due, clock.warn_at, target)
            self.start_timer(f"sla:{cname}:warn", cs.warn_due)
        self.log("sla", cname, status="running", due=cs.due.isoformat())
        if self.s.state in clock.pause:
            self.sla_pause(cname, clock, cs)

    def _fraction(self, start: dt.datetime, due: dt.datetime, share: float, target: Duration) -> dt.datetime:
        if isinstance(target, BusinessHours):
            seconds = self.calendar.business_seconds_between(start, due)
            return self.calendar.add_business_seconds(start, int(seconds * share))
        return start + (due - start) * share

    def _remaining(self, until: dt.datetime, business: bool) -> int:
        if business:
            return self.calendar.business_seconds_between(self.now, until)
        return max(0, int((until - self.now).total_seconds()))

    def _after(self, seconds: int, business: bool) -> dt.datetime:
        if business:
            return self.calendar.add_business_seconds(self.now, seconds)
        return self.now + dt.timedelta(seconds=seconds)

    def sla_pause(self, cname: str, clock: SlaClock, cs: SlaClockState) -> None:
        business = isinstance(self.clock_target(clock), BusinessHours)
        if cs.due is not None:
            cs.remaining_seconds = self._remaining(cs.due, business)
        if cs.warn_due is not None and not cs.warned:
            cs.warn_remaining_seconds = self._remaining(cs.warn_due, business)
        cs.status = "paused"
        cs.paused_at = self.now
        self.cancel_timer(f"sla:{cname}:breach")
        self.cancel_timer(f"sla:{cname}:warn")
        self.log("sla", cname, status="paused", remaining_seconds=cs.remaining_seconds)

    def sla_resume(self, cname: str, clock: SlaClock, cs: SlaClockState) -> None:
        business = isinstance(self.clock_target(clock), BusinessHours)
        cs.status = "running"
        cs.paused_at = None
        cs.due = self._after(cs.remaining_seconds or 0, business)
        cs.remaining_seconds = None
        self.start_timer(f"sla:{cname}:breach", cs.due)
        if cs.warn_remaining_seconds is not None and not cs.warned:
            cs.warn_due = self._after(cs.warn_remaining_seconds, business)
            cs.warn_remaining_seconds = None
            self.start_timer(f"sla:{cname}:warn", cs.warn_due)
        self.log("sla", cname, status="running", due=cs.due.isoformat())

    def sla_stop(self, cname: str, cs: SlaClockState, *, reached_stop: bool) -> None:
        self.cancel_timer(f"sla:{cname}:breach")
        self.cancel_timer(f"sla:{cname}:warn")
        cs.stopped_at = self.now
        if cs.status != "breached":
            cs.status = "met" if reached_stop else "stopped"
        cs.paused_at = None
        self.log("sla", cname, status=cs.status)
        self.stop_ladders(f"sla:{cname}")

    def sla_timer(self, cname: str, which: str) -> None:
        clock = self.policy.sla[cname]
        cs = self.s.sla[cname]
        if which == "warn":
            cs.warned = True
            self.log("sla", cname, status="warning", due=cs.due.isoformat() if cs.due else None)
            self.via = f"sla {cname} warning"
            if clock.on_warn is not None:
                self.run_handler(clock.on_warn, None, f"sla:{cname}")
            return
        cs.status = "breached"
        cs.breached_at = self.now
        self.cancel_timer(f"sla:{cname}:warn")
        self.log("sla", cname, status="breached")
        self.via = f"sla {cname} breach"
        if clock.on_breach is not None:
            self.run_handler(clock.on_breach, None, f"sla:{cname}")

    # -- escalation ladders -----------------------------------------------------------------------

    def start_ladder(self, name: str, cause: str) -> None:
        if name in self.s.ladders:
            return  # already climbing: a second trigger does not restart it
        self.s.ladders[name] = LadderState(started_at=self.now, cause=cause)
        self.log("escalation", name, started=True, cause=cause)
        for level in self.policy.escalations[name].levels:
            self.start_timer(f"ladder:{name}:{level.level}", self.due(self.now, level.after))

    def ladder_timer(self, name: str, number: int) -> None:
        ladder = self.s.ladders.get(name)
        level = next((lv for lv in self.policy.escalations[name].levels if lv.level == number), None)
        if ladder is None or level is None:
            return
        ladder.level = number
        self.s.escalation_level = max(self.s.escalation_level, number)
        self.log("escalation", name, level=number)
        self.run_actions(level.actions, None)

    def stop_ladders(self, cause: str) -> None:
        for name in [n for n, lad in self.s.ladders.items() if lad.cause == cause]:
            self.stop_ladder(name)

    def stop_ladder(self, name: str) -> None:
        prefix = f"ladder:{name}:"
        pending = [n for n in self.s.timers if n.startswith(prefix)]
        for timer in pending:
            self.cancel_timer(timer)
        if pending:
            self.log("escalation", name, stopped=True)


# ---------------------------------------------------------------------------------------------
# Helpers


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    raise TypeError(f"expected a date-time, got {value!r}")


def _working_copy(state: CaseState) -> CaseState:
    """A copy whose containers may be changed without touching the caller's state.

    Cheaper than a deep copy: timeline entries are never changed once written, so they are shared.
    """
    return state.model_copy(
        update={
            "links": dict(state.links),
            "vars": {k: (list(v) if isinstance(v, list) else v) for k, v in state.vars.items()},
            "counters": dict(state.counters),
            "decisions": dict(state.decisions),
            "timers": dict(state.timers),
            "sla": {k: v.model_copy() for k, v in state.sla.items()},
            "ladders": {k: v.model_copy() for k, v in state.ladders.items()},
            "records": dict(state.records),
            "event_keys": list(state.event_keys),
            "timeline": list(state.timeline),
        }
    )


# ---------------------------------------------------------------------------------------------
# The public functions


def open_case(resolved: ResolvedPolicy, inp: OpenCase, *, stop_on_policy_error: bool = True) -> StepResult:
    """Open a case on a resolved policy; raises OpenRefused when the data does not fit."""
    policy = resolved.policy
    if policy.case_type != inp.case_type:
        raise OpenRefused(f"policy '{resolved.id}' runs '{policy.case_type}' cases, not '{inp.case_type}'")
    data, errors = normalise_data(policy.data, inp.data)
    if errors:
        raise OpenRefused("the case data does not fit the policy", errors)
    at = _aware(inp.at)
    state = CaseState(
        case_id=inp.case_id,
        case_type=inp.case_type,
        policy_id=resolved.id,
        policy_version=resolved.version,
        opened_at=at,
        state="",
        entered_at=at,
        data=data,
        links=dict(inp.links),
        vars={
            name: plain(spec.default) if spec.default is not None else None for name, spec in policy.variables.items()
        },
        counters={name: 0 for name in policy.counters},
        sla={name: SlaClockState() for name in policy.sla},
    )
    run = _Run(resolved, state, at, stop_on_policy_error=stop_on_policy_error)
    run.log("open", inp.case_type, policy=resolved.id, version=resolved.version)
    assert policy.open is not None
    run.via = "open"
    try:
        run.run_handler(policy.open, None, "case")
    except PolicyFailed as exc:
        raise OpenFailed(f"the policy failed while opening the case: {exc.message}") from None
    # Clocks that start at opening start once the opening's decisions are taken: their targets may
    # depend on them (a P1 complaint has 2 h). A case refused at opening starts no clock.
    for cname, clock in policy.sla.items():
        if "open" in clock.start and not state.closed and state.sla[cname].status == "pending":
            run.sla_start(cname, clock, state.sla[cname])
    return StepResult(state=state, commands=run.commands)


def accepted_events(resolved: ResolvedPolicy, state: CaseState) -> dict[str, list[str]]:
    """Events the case accepts now, with the roles that may send each."""
    if state.closed:
        return {}
    policy = resolved.policy
    current = policy.states.get(state.state)
    names = list(current.on) if current else []
    names += [n for n in policy.any_state if n not in names]
    return {n: list(policy.events[n].roles) for n in names if n in policy.events}


def check_event(resolved: ResolvedPolicy, state: CaseState, event: EventIn) -> str | None:
    """Why the case refuses this event now, or None if it accepts it. Changes nothing."""
    return _admit(resolved, state, event)[0]


def _admit(resolved: ResolvedPolicy, state: CaseState, event: EventIn) -> tuple[str | None, dict[str, Any]]:
    """Why the case refuses the event (or None), and the event's data in canonical form."""
    policy = resolved.policy
    if state.closed:
        return f"the case is closed (state '{state.state}')", {}
    spec = policy.events.get(event.name)
    if spec is None:
        return f"unknown event '{event.name}'", {}
    accepted = accepted_events(resolved, state)
    if event.name not in accepted:
        now = ", ".join(sorted(accepted)) or "none"
        return f"event '{event.name}' is not accepted in state '{state.state}' (accepted now: {now})", {}
    if event.actor.role not in spec.roles:
        return f"role '{event.actor.role}' may not send '{event.name}' (allowed: {', '.join(spec.roles)})", {}
    normalised, errors = normalise_data(spec.data, event.data)
    if errors:
        return f"invalid data for '{event.name}': " + "; ".join(errors), {}
    if spec.require:
        run = _Run(resolved, state, event.at)
        names = run.names(event.model_copy(update={"data": normalised}))
        for req in spec.require:
            try:
                ok = compile_expression(req.if_).test(names)
            except ExpressionError as exc:
                return f"'{event.name}' cannot be checked: {exc}", {}
            if not ok:
                try:
                    return compile_template(req.message).render(names), {}
                except ExpressionError:
                    return req.message, {}
    return None, normalised


def step(
    resolved: ResolvedPolicy, state: CaseState, inp: EventIn | TimerDue, *, stop_on_policy_error: bool = True
) -> StepResult:
    """Apply one input to a case; the caller's state is left untouched.

    A decision row or goto condition that cannot be evaluated stops the handler (see PolicyFailed);
    `stop_on_policy_error=False` passes over it instead, for cases that began before that rule.
    """
    work = _working_copy(state)
    run = _Run(resolved, work, inp.at, stop_on_policy_error=stop_on_policy_error)
    if isinstance(inp, TimerDue):
        return _timer(run, inp)
    if inp.key is not None and inp.key in work.event_keys:
        return StepResult(state=state, duplicate=True)
    reason, normalised = _admit(resolved, state, inp)
    if reason is not None:
        work.refused += 1
        run.log("refused", inp.name, reason=reason, actor=inp.actor.model_dump(), data=inp.data)
        return StepResult(state=work, refused=reason)
    event = inp.model_copy(update={"data": normalised})
    if inp.key is not None:
        work.event_keys.append(inp.key)
    run.log(
        "event",
        inp.name,
        actor=inp.actor.model_dump(),
        data=normalised,
        **({"key": inp.key} if inp.key else {}),
    )
    current = resolved.policy.states[work.state]
    handler = current.on.get(inp.name) or resolved.policy.any_state[inp.name]
    run.via = inp.name
    try:
        run.run_handler(handler, event, "case")
    except PolicyFailed as exc:
        # Nothing of the event is applied (no half-run handler, no effect): the case stays as it was,
        # with the failure in its timeline. Its key is not kept, since the event did not happen.
        kept = _working_copy(state)
        _Run(resolved, kept, inp.at).log(
            "error",
            exc.detail.get("decision", "goto"),
            message=f"{exc.message}; the event was not applied",
            event=inp.name,
            actor=inp.actor.model_dump(),
            data=inp.data,
            **exc.detail,
        )
        return StepResult(state=kept, failed=exc.message)
    return StepResult(state=work, commands=run.commands)


def _timer(run: _Run, inp: TimerDue) -> StepResult:
    s = run.s
    if inp.name not in s.timers or s.closed:
        return StepResult(state=s)  # cancelled or already fired: nothing to do
    del s.timers[inp.name]
    try:
        _fire(run, inp)
    except PolicyFailed as exc:
        # Time has passed and cannot be undone (an SLA breach stays a breach): what the timer did up
        # to the failure stands, and nothing after it runs.
        run.log(
            "error",
            exc.detail.get("decision", "goto"),
            message=f"{exc.message}; the rest of the handler did not run",
            timer=inp.name,
            **exc.detail,
        )
        return StepResult(state=s, commands=run.commands, failed=exc.message)
    return StepResult(state=s, commands=run.commands)


def _fire(run: _Run, inp: TimerDue) -> None:
    kind, _, rest = inp.name.partition(":")
    if kind == "state":
        sname, _, tname = rest.partition(":")
        timer = run.policy.states[sname].timers[tname]
        run.log("timer", tname, state=sname)
        run.via = tname
        run.run_handler(timer, None, f"state:{sname}")
    elif kind == "sla":
        cname, _, which = rest.partition(":")
        run.sla_timer(cname, which)
    elif kind == "ladder":
        lname, _, level = rest.rpartition(":")
        run.via = f"escalation {lname}"
        run.ladder_timer(lname, int(level))


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


def listing(resolved: ResolvedPolicy, state: CaseState) -> dict[str, str | None]:
    """The merchant and priority that case lists show, as the policy's `listing` computes them."""
    run = _Run(resolved, state, state.entered_at)
    names = run.names()
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
