"""One step of one case: the working copy every concern of the engine changes, and its bookkeeping.

A step (an opening, an event, a due timer) runs handlers, actions, transitions, SLA clocks and
escalation ladders; they all work on one `StepContext`: the case being changed, the time of the
step, the commands produced for the driver, the audit trail, and the names expressions read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from policy_engine.engine.bounds import OutOfRange, data_problem
from policy_engine.engine.case import CancelTimer, CaseState, Command, EventIn, StartTimer
from policy_engine.engine.timeline import TimelineRecorder
from policy_engine.engine.timers import TimerKind, TimerName
from policy_engine.engine.windows import OpenWindows
from policy_engine.language import Calendar, Policy, ResolvedPolicy, duration_of


def aware(at: dt.datetime) -> dt.datetime:
    """`at`, refused when it has no UTC offset (deadline arithmetic would be ambiguous)."""
    if at.tzinfo is None:
        raise ValueError("times given to the engine must carry a UTC offset")
    return at


class StepContext:
    """The mutable working copy of one step and the commands it produces."""

    def __init__(
        self, resolved: ResolvedPolicy, case: CaseState, now: dt.datetime, *, stop_on_policy_error: bool = True
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
        self.case = case
        self.now = aware(now)
        self.commands: list[Command] = []
        self.moves = 0  # state changes in this step (see MAX_MOVES_PER_STEP)
        self.version = resolved.short_version
        self.audit = TimelineRecorder(case.timeline, self.now, self.version)
        # What moves the case now (an event, a timer, a breach), as the audit trail says it (see
        # timeline.Via): set before any handler runs.
        self.via = ""
        # Why the step's values went out of range, once one did (see `out_of_range`).
        self.out_of_range_reason: str | None = None
        # By the id of the event they were built for; events outlive the step, so ids are not reused.
        self._names: dict[int, dict[str, Any]] = {}

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
        case = self.case
        decisions = {table: taken.outputs for table, taken in case.decisions.items()}
        out: dict[str, Any] = {
            "case": case.data,
            "params": self.policy.parameters,
            "windows": OpenWindows(self),
            "decisions": decisions,
            "counters": case.counters,
            "vars": case.vars,
            "now": self.now,
            "state": case.state,
            "case_id": case.case_id,
            "case_type": case.case_type,
        }
        for table, decision in self.policy.decisions.items():
            if table not in decisions:
                # Not taken yet: its outputs read as none rather than failing.
                decisions[table] = {output: None for output in decision.rules[0].then}
        if event is not None:
            out["event"] = event.data
            out["actor"] = {"role": event.actor.role, "id": event.actor.id}
        return out

    def out_of_range(self, reason: str) -> OutOfRange:
        """The error to raise where a value goes out of range; the first reason is also kept here,
        because an expression that reads a window turns every error into its own (ExpressionError)
        and the step must still refuse the input for this reason (see `steps`)."""
        if self.out_of_range_reason is None:
            self.out_of_range_reason = reason
        return OutOfRange(reason)

    def check_value(self, value: Any, *at: str) -> None:
        """Raise OutOfRange when a value computed from the case is out of the engine's range (a
        variable of 10**30, an amount of inf); `at` is where it is kept (`vars`, `total`)."""
        problem = data_problem(value, at)
        if problem is not None:
            raise self.out_of_range(problem)

    def due(self, start: dt.datetime, text: str) -> dt.datetime:
        """When a duration of the policy (`48h`, `7 calendar days`) from `start` runs out."""
        return self.calendar.due(start, duration_of(text))

    def start_timer(self, timer: TimerName, due: dt.datetime) -> None:
        name = str(timer)
        self.case.timers[name] = due
        self.commands.append(StartTimer(name=name, due=due))

    def cancel_timer(self, timer: TimerName) -> None:
        self._cancel(str(timer))

    def cancel_timers_of(self, kind: TimerKind, owner: str) -> bool:
        """Cancel the pending timers of one state or ladder; whether there were any."""
        # By the names' common beginning: parsing every pending name costs more, on every move.
        prefix = TimerName.prefix_of(kind, owner)
        pending = [name for name in self.case.timers if name.startswith(prefix)]
        for name in pending:
            self._cancel(name)
        return bool(pending)

    def cancel_all_timers(self) -> None:
        for name in list(self.case.timers):
            self._cancel(name)

    def _cancel(self, name: str) -> None:
        if self.case.timers.pop(name, None) is not None:
            self.commands.append(CancelTimer(name=name))
