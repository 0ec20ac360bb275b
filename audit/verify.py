"""Verification: does what a case recorded follow from its pinned policy and the inputs it received?

The inputs are replayed on the pinned policy (`audit.replay`) and compared with each thing the
history recorded: the actions scheduled (type and params), the status each accepted event answered
with, the whole state carried into each new run (its timeline: transitions, decisions with their
outputs, SLA changes, actions) and the final status. Each kind of record reports its first
divergence only, with the input where it starts: after that point everything differs.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from pydantic_core import to_json

from audit.history import CaseHistory, CaseReset
from audit.replay import Replay, replay_case
from audit.zones import readable_time
from policy_engine.engine import CaseState, TimelineEntry
from policy_engine.language import ResolvedPolicy, pinned_policy
from workflows.contract import CaseStatus, status_of


@dataclass(frozen=True)
class Divergence:
    at_input: int  # 0: the opening; n: the case's n-th input
    where: str  # the input, as a person reads it
    message: str

    def __str__(self) -> str:
        return f"at {self.where}: {self.message}"


@dataclass
class Verdict:
    case_id: str
    inputs: int
    divergences: list[Divergence] = field(default_factory=list)
    # What a reviewer should know that is not a divergence (a reset: which record was verified).
    notes: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return not self.divergences


def pinned_of(case: CaseHistory) -> ResolvedPolicy | None:
    """The policy the case pinned when it opened (None: it never got that far)."""
    if case.pinned is None:
        return None
    return pinned_policy(case.pinned.policy_version, case.pinned.policy_content)


def _plain(value: Any) -> Any:
    """A value as its JSON reads back (numbers, strings, lists, mappings), to compare like with like."""
    return json.loads(to_json(value))


def _shown(value: Any) -> str:
    return json.dumps(_plain(value), ensure_ascii=False, sort_keys=True)


class _Locator:
    """Names an input the way a reviewer reads it: `event #4 approve (2026-11-03 10:00:00 +08:00)`."""

    def __init__(self, case: CaseHistory, zone: ZoneInfo) -> None:
        self.case = case
        self.zone = zone

    def _time(self, at: dt.datetime) -> str:
        return readable_time(at, self.zone)

    def __call__(self, number: int) -> str:
        if number == 0:
            return f"the opening ({self._time(self.case.opened_at)})"
        received = self.case.inputs[number - 1]
        word = "event" if received.request is not None else "input"
        return f"{word} #{number} {received.describe()} ({self._time(received.at)})"

    def divergence(self, number: int, message: str) -> Divergence:
        return Divergence(number, self(number), message)


def _outcome(status: CaseStatus) -> dict[str, Any]:
    """What a status says about the case's outcome (its accepted events and deadlines aside)."""
    return {
        "state": status.state,
        "closed": status.closed,
        "decisions": dict(status.decisions),
        "sla": {name: clock.get("status") for name, clock in status.sla.items()},
        "escalation_level": status.escalation_level,
        "counters": dict(status.counters),
        "records": _plain(status.records),
    }


def _outcome_of(state: CaseState) -> dict[str, Any]:
    return _outcome(status_of(state, {}))


def _status_divergence(recorded: CaseStatus, replayed: CaseState) -> str | None:
    was, now = _outcome(recorded), _outcome_of(replayed)
    for key, value in was.items():
        if value == now[key]:
            continue
        if key == "state":
            return f"recorded state `{value}`, the policy gives `{now[key]}`"
        return f"recorded {key} {_shown(value)}, the policy gives {_shown(now[key])}"
    return None


def _entry(entry: TimelineEntry) -> str:
    detail = {k: v for k, v in _plain(entry.detail).items() if k != "message"}
    return f"{entry.kind} {entry.name} {json.dumps(detail, ensure_ascii=False, sort_keys=True)}".replace("  ", " ")


def _first_difference(recorded: list[TimelineEntry], replayed: list[TimelineEntry]) -> int | None:
    for index in range(max(len(recorded), len(replayed))):
        if index >= len(recorded) or index >= len(replayed):
            return index
        if _plain(recorded[index]) != _plain(replayed[index]):
            return index
    return None


class _Comparison:
    def __init__(self, case: CaseHistory, replay: Replay, locate: _Locator) -> None:
        self.case = case
        self.replay = replay
        self.locate = locate
        self.found: list[Divergence] = []

    def note(self, number: int, message: str) -> None:
        self.found.append(self.locate.divergence(number, message))

    def refusals(self) -> None:
        """An event the policy refuses (or fails on) agrees with the record only when the update
        failed with that reason (the handler stopped: the event was not applied)."""
        failures = {a.after: a.failure for a in self.case.answers if a.failure is not None}
        for number, reason in sorted(self.replay.refusals.items()):
            failure = failures.get(number)
            if failure is None:
                self.note(number, f"the workflow accepted the event, the policy refuses it ({reason})")
            elif failure != reason:
                self.note(number, f"the event failed with `{failure}`, the policy gives `{reason}`")
            else:
                continue
            return

    def actions(self) -> None:
        recorded, replayed = self.case.actions, self.replay.actions
        for index in range(max(len(recorded), len(replayed))):
            was = recorded[index] if index < len(recorded) else None
            now = replayed[index] if index < len(replayed) else None
            if was is not None and now is not None:
                if was[1].type == now[1].type and _plain(was[1].params) == _plain(now[1].params):
                    continue
                self.note(
                    now[0],
                    f"recorded action `{was[1].type}` {_shown(_params(was[1].params))}, "
                    f"the policy gives `{now[1].type}` {_shown(_params(now[1].params))}",
                )
            elif was is not None:
                self.note(
                    was[0], f"recorded action `{was[1].type}` {_shown(_params(was[1].params))}, the policy gives none"
                )
            elif now is not None:
                self.note(
                    now[0],
                    f"the policy gives action `{now[1].type}` {_shown(_params(now[1].params))}, none was recorded",
                )
            return

    def answers(self) -> None:
        for answer in self.case.answers:
            if answer.after in self.replay.refusals:
                continue  # the policy's refusal: compared by `refusals`
            if answer.status is None:
                self.note(answer.after, f"the event failed with `{answer.failure}`, the policy applies it")
                return
            message = _status_divergence(answer.status, self.replay.states[answer.after])
            if message is not None:
                self.note(answer.after, message)
                return

    def carried(self) -> None:
        for carried in self.case.carried:
            replayed = self.replay.states[carried.after].timeline
            index = _first_difference(carried.state.timeline, replayed)
            if index is None:
                continue
            number = next(
                (n for n, state in enumerate(self.replay.states) if len(state.timeline) > index), carried.after
            )
            was = _entry(carried.state.timeline[index]) if index < len(carried.state.timeline) else "nothing"
            now = _entry(replayed[index]) if index < len(replayed) else "nothing"
            self.note(number, f"recorded timeline entry {index + 1}: {was}; the policy gives: {now}")
            return

    def final(self) -> None:
        if self.case.final is None:
            return
        message = _status_divergence(self.case.final, self.replay.final)
        if message is not None:
            self.note(len(self.case.inputs), f"at the end, {message}")


def _params(params: dict[str, Any]) -> dict[str, Any]:
    """An action's params without its rendered message (long, and the same words as the other params)."""
    return {k: v for k, v in params.items() if k != "message"}


def _reset_note(reset: CaseReset, locate: _Locator) -> str:
    """After a reset the case's record is the run the reset made: the inputs up to the reset point
    (copied from the abandoned run) and what came after in the new run. That is what is verified; the
    abandoned run's later events never reached the case as it stands."""
    point = "the opening" if reset.after == 0 else locate(reset.after)
    reason = f" ({reset.reason})" if reset.reason else ""
    return (
        f"reset after {point}{reason}: verified the record the case went on with; "
        f"the events of run {reset.base_run_id} after that point were abandoned"
    )


def verify_case(case: CaseHistory, zone: ZoneInfo | None = None, policy: ResolvedPolicy | None = None) -> Verdict:
    """Replay the case on its pinned policy (or on `policy`) and compare with what it recorded."""
    locate = _Locator(case, zone or ZoneInfo("UTC"))
    verdict = Verdict(
        case_id=case.case_id, inputs=len(case.inputs), notes=[_reset_note(r, locate) for r in case.resets]
    )
    policy = policy or pinned_of(case)
    if policy is None:
        # Refused before a policy was pinned (its data fits none, its caller was refused): nothing ran.
        return verdict
    replay = replay_case(case, policy)
    if replay.refused is not None:
        if case.refused is None:
            verdict.divergences.append(
                locate.divergence(0, f"the case opened, the policy refuses the opening ({replay.refused})")
            )
        return verdict
    if case.refused is not None and not case.inputs and case.final is None:
        verdict.divergences.append(locate.divergence(0, f"the case was refused ({case.refused}), the policy opens it"))
        return verdict
    comparison = _Comparison(case, replay, locate)
    comparison.refusals()
    comparison.actions()
    comparison.answers()
    comparison.carried()
    comparison.final()
    verdict.divergences = sorted(comparison.found, key=lambda d: d.at_input)
    return verdict
