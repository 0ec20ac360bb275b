"""A case's inputs run again through the pure engine, the way the workflow runs them.

The same order of work as `AfterSalesCase`: timers due by an input's time fire before it; an event
whose sender the worker refused is recorded as refused; an action's result comes back as its
`reports` event (a refund completing); an action that failed for good is noted in the timeline. The
case after every input is kept, so a comparison can say at which input the record and the policy part.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field

from audit.history import CaseHistory, CaseInput
from policy_engine.engine import (
    Actor,
    CaseState,
    EventIn,
    OpenCase,
    OpenFailed,
    OpenRefused,
    RunAction,
    StepResult,
    TimerDue,
    fire_due,
    open_case,
    report_event,
    step,
)
from policy_engine.language import ResolvedPolicy
from workflows.bounds import event_data_problem, event_key_problem
from workflows.contract import (
    CALLER_REFUSED,
    PATCH_BOUNDED_SIGNALS,
    PATCH_PLATFORM_REPORTS,
    PATCH_STOP_ON_POLICY_ERROR,
    PATCH_WORKING_DAY_PAUSES,
    DataLimits,
)
from workflows.trust import (
    backdating_note,
    note_backdating,
    oversized_step,
    platform_only,
    refused_step,
    report_digest,
    reported_events,
    with_failed_action,
)


@dataclass
class Replay:
    """The case as the policy makes it, input by input (`states[n]`: after the first n inputs)."""

    refused: str | None = None  # the policy refuses the opening
    states: list[CaseState] = field(default_factory=list)
    actions: list[tuple[int, RunAction]] = field(default_factory=list)  # (input number, action)
    # Input number -> why the policy refuses an event the workflow accepted (or fails on it).
    refusals: dict[int, str] = field(default_factory=dict)

    @property
    def final(self) -> CaseState:
        return self.states[-1]


class _Driver:
    def __init__(self, policy: ResolvedPolicy, patches: set[str], limits: DataLimits | None = None) -> None:
        self.policy = policy
        # The behaviours of the release that ran the case (docs/changing-the-workflow.md, "Patches").
        self.stops_on_policy_error = PATCH_STOP_ON_POLICY_ERROR in patches
        self.refuses_forged_reports = PATCH_PLATFORM_REPORTS in patches
        self.bounds_signals = PATCH_BOUNDED_SIGNALS in patches
        self.working_day_pauses = PATCH_WORKING_DAY_PAUSES in patches
        self.limits = limits or DataLimits()  # the worker's caps the case pinned (resolve_policy)
        self.replay = Replay()
        self.pending: deque[RunAction] = deque()
        self.awaiting: dict[str, str] = {}  # deferred reports: digest of the report key -> event
        self.reported = reported_events(policy)
        self.state: CaseState | None = None
        self.number = 0  # the input being applied (0: the opening)

    def absorb(self, result: StepResult) -> CaseState:
        self.state = result.state
        for command in result.commands:
            if isinstance(command, RunAction):
                self.pending.append(command)
                self.replay.actions.append((self.number, command))
        return result.state

    def step(self, state: CaseState, received: EventIn | TimerDue) -> StepResult:
        """The workflow's `_step`: a policy error stops the handler since PATCH_STOP_ON_POLICY_ERROR;
        a case begun before passes the erring row over."""
        result = step(self.policy, state, received)
        if result.failed is not None and not self.stops_on_policy_error:
            result = step(self.policy, state, received, stop_on_policy_error=False)
        return result

    def fire(self, at: dt.datetime) -> CaseState:
        assert self.state is not None
        return fire_due(self.policy, self.state, at, apply=self.step, absorb=lambda result, _: self.absorb(result))

    def apply(self, number: int, received: CaseInput) -> None:
        self.number = number
        if received.kind == "timer":
            self.fire(received.at)
        elif received.request is not None:
            self._event(received)
        else:
            self._action_ended(received)

    def _event(self, received: CaseInput) -> None:
        request = received.request
        assert request is not None
        state = self.fire(received.at)
        event = EventIn(
            name=request.name,
            actor=Actor(role=request.role, id=request.actor_id),
            data=request.data,
            at=received.at,
            key=request.key,
        )
        verdict = received.verdict
        if received.kind == "signal":
            unbounded = event_key_problem(request.key) or event_data_problem(request.data, self.limits)
            if unbounded is not None and self.bounds_signals:  # refused before its sender is checked
                self.absorb(oversized_step(state, event, unbounded))
                return
            forged = platform_only(request.name, request.key, self.reported, self.awaiting)
            if not self.refuses_forged_reports:
                forged = None  # a case begun before PATCH_PLATFORM_REPORTS applied such a report
            if verdict is not None and not verdict.admitted:
                self.absorb(refused_step(state, event, f"{CALLER_REFUSED}: {verdict.reason}"))
                return
            if forged is not None:
                self.absorb(refused_step(state, event, forged))
                return
        result = self.step(state, event)
        self.absorb(result)
        if received.kind == "event" and (result.refused or result.failed):
            self.replay.refusals[self.number] = result.refused or f"the policy failed: {result.failed}"
        if request.key is not None and not result.refused and not result.failed:
            digest = report_digest(request.key)
            if self.awaiting.get(digest) == request.name:
                del self.awaiting[digest]  # a deferred report applied with its key

    def _action_ended(self, received: CaseInput) -> None:
        if not self.pending:
            return  # the policy gave no such action: the comparison of actions says so
        command = self.pending.popleft()
        assert self.state is not None
        if received.failure is not None:
            self.state = with_failed_action(self.state, command, received.failure, received.at)
            return
        outcome = received.outcome
        if outcome is None:
            return
        if not outcome.completed and outcome.report_digest and command.reports:
            self.awaiting[outcome.report_digest] = command.reports
        report = report_event(self.policy, command, received.at)
        if report is not None and outcome.completed:
            state = self.fire(received.at)
            self.absorb(self.step(state, report))


def replay_case(case: CaseHistory, policy: ResolvedPolicy) -> Replay:
    """Run the case's inputs through the engine on `policy` (normally the one the case pinned)."""
    pinned = case.start.pinned
    limits = case.pinned.limits if case.pinned is not None else pinned.limits if pinned is not None else None
    driver = _Driver(policy, case.patches, limits)
    opening = OpenCase(
        case_id=case.case_id,
        case_type=case.opening.case_type,
        data=case.opening.data,
        at=case.opened_at,
        links=case.opening.links,
    )
    working_day_pauses = driver.working_day_pauses
    try:
        try:
            result = open_case(policy, opening, working_day_pauses=working_day_pauses)
        except OpenFailed:
            if driver.stops_on_policy_error:
                raise
            result = open_case(policy, opening, stop_on_policy_error=False, working_day_pauses=working_day_pauses)
    except OpenRefused as exc:
        driver.replay.refused = str(exc)
        return driver.replay
    note = None if case.resolve is None else backdating_note(case.resolve)
    driver.absorb(result if note is None else note_backdating(result, note))
    assert driver.state is not None
    driver.replay.states.append(driver.state)
    for number, received in enumerate(case.inputs, start=1):
        driver.apply(number, received)
        driver.replay.states.append(driver.state)
    return driver.replay
