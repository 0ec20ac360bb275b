"""The data of the case engine: a case's state, what goes in, what comes out.

All plain pydantic data that serialises to JSON and back unchanged, so a case can be carried in a
Temporal history, continued as new, exported as a scenario, or compared across runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Actor(_Data):
    role: str
    id: str = ""


# ---------------------------------------------------------------------------------------------
# Inputs


class OpenCase(_Data):
    kind: Literal["open"] = "open"
    case_id: str
    case_type: str
    data: dict[str, Any] = Field(default_factory=dict)
    at: dt.datetime
    links: dict[str, str] = Field(default_factory=dict)  # e.g. {"opened_from": "RP-1"}


class EventIn(_Data):
    """An event delivered to a case, as the engine takes it in.

    One of three event classes, by layer: `policy_engine.language.Event` is an event a policy
    declares (who may send it, its data); this is one occurrence of it; `workflows.contract.
    EventRequest` is the message a backend sends, which the workflow turns into this.
    """

    kind: Literal["event"] = "event"
    name: str
    actor: Actor
    data: dict[str, Any] = Field(default_factory=dict)
    at: dt.datetime
    key: str | None = None  # idempotency key: the same key twice is applied once


class TimerDue(_Data):
    """A timer of the case fell due; `name` as `timers.TimerName` writes it."""

    kind: Literal["timer"] = "timer"
    name: str
    at: dt.datetime


Input = Annotated[OpenCase | EventIn | TimerDue, Field(discriminator="kind")]


# ---------------------------------------------------------------------------------------------
# Commands


class StartTimer(_Data):
    kind: Literal["start_timer"] = "start_timer"
    name: str
    due: dt.datetime


class CancelTimer(_Data):
    kind: Literal["cancel_timer"] = "cancel_timer"
    name: str


class RunAction(_Data):
    kind: Literal["run_action"] = "run_action"
    key: str  # idempotency key, stable across replays: "<case_id>/<seq>/<type>"
    type: str
    params: dict[str, Any]
    reports: str | None = None  # the event that reports the action's success back to the case


class CloseCase(_Data):
    kind: Literal["close"] = "close"
    state: str


Command = Annotated[StartTimer | CancelTimer | RunAction | CloseCase, Field(discriminator="kind")]


# ---------------------------------------------------------------------------------------------
# State

TimelineKind = Literal[
    "open",
    "event",
    "refused",
    "timer",
    "transition",
    "decision",
    "action",
    "sla",
    "escalation",
    "counter",
    "variable",
    "close",
    "error",  # the policy failed on an input: a decision row or a goto condition could not be evaluated
]


class TimelineEntry(_Data):
    """One entry of a case's audit trail, as it travels (its JSON never changes): `detail` holds what
    the entry's kind says, written by `timeline.TimelineRecorder` and read typed through
    `timeline_entries.typed_entry`."""

    at: dt.datetime
    kind: TimelineKind
    name: str = ""  # event, timer, table, action type, clock or ladder name
    detail: dict[str, Any] = Field(default_factory=dict)
    policy_version: str = ""


# `stopped`: the case closed before the clock reached a stop state (a withdrawn complaint).
SlaStatusName = Literal["pending", "running", "paused", "met", "breached", "stopped"]


class SlaClockState(_Data):
    status: SlaStatusName = "pending"
    started_at: dt.datetime | None = None
    due: dt.datetime | None = None
    paused_at: dt.datetime | None = None
    # While paused: the time left, in the target's time base (business seconds on business-hour clocks,
    # seconds of working days on working-day clocks of a case that counts so: CaseState.working_day_pauses).
    remaining_seconds: int | None = None
    warn_due: dt.datetime | None = None
    warn_remaining_seconds: int | None = None
    stopped_at: dt.datetime | None = None
    warned: bool = False
    breached_at: dt.datetime | None = None
    earlier_rounds: list[SlaStatusName] = Field(default_factory=list)  # results of rounds before this one


class LadderState(_Data):
    started_at: dt.datetime
    level: int = 0
    cause: str = ""  # what the ladder belongs to, which stops it: "case", "state:<state>", "sla:<clock>" (ladders.py)


class DecisionTaken(_Data):
    rule: str
    outputs: dict[str, Any]
    at: dt.datetime


class CaseState(_Data):
    case_id: str
    case_type: str
    policy_id: str
    policy_version: str
    opened_at: dt.datetime
    state: str
    entered_at: dt.datetime
    closed: bool = False
    closed_at: dt.datetime | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    links: dict[str, str] = Field(default_factory=dict)
    vars: dict[str, Any] = Field(default_factory=dict)
    counters: dict[str, int] = Field(default_factory=dict)
    decisions: dict[str, DecisionTaken] = Field(default_factory=dict)
    timers: dict[str, dt.datetime] = Field(default_factory=dict)
    sla: dict[str, SlaClockState] = Field(default_factory=dict)
    ladders: dict[str, LadderState] = Field(default_factory=dict)
    escalation_level: int = 0
    records: dict[str, Any] = Field(default_factory=dict)
    action_seq: int = 0
    event_keys: list[str] = Field(default_factory=list)
    refused: int = 0
    timeline: list[TimelineEntry] = Field(default_factory=list)
    # Whether a paused working-day clock keeps the time it had left in seconds of working days (True,
    # cases opened since the workflow's PATCH_WORKING_DAY_PAUSES) or in elapsed seconds (False, as
    # cases opened before did, so that they replay as they ran). The default is the old behaviour:
    # a state carried from an earlier release reads False; `open_case` sets it for new cases.
    working_day_pauses: bool = False

    def next_timer(self) -> tuple[str, dt.datetime] | None:
        """The timer that falls due first (ties broken by name, so every driver agrees)."""
        if not self.timers:
            return None
        name = min(self.timers, key=lambda n: (self.timers[n], n))
        return name, self.timers[name]


class StepResult(_Data):
    state: CaseState
    commands: list[Command] = Field(default_factory=list)
    refused: str | None = None  # the reason, when the input was refused
    duplicate: bool = False  # an event whose idempotency key was already applied
    failed: str | None = None  # the policy failed on the input (its `error` entry's message)


class PolicyFailed(Exception):
    """A decision row or a goto condition could not be evaluated (it compares a field the case does not
    have with a number, say).

    What the case does next depends on it, so the handler stops there: taking the next row or branch
    instead would quietly give another outcome (a P2 complaint handled as P3). `step` records an
    `error` entry; an event is then not applied at all, a timer's handler stops at the failure, and
    a case that fails while opening is refused (it has no state to stay in).
    """

    def __init__(
        self,
        message: str,
        *,
        handling: str,
        decision: str | None = None,
        rule: str | None = None,
        inputs: dict[str, Any] | None = None,
        condition: str | None = None,
    ) -> None:
        self.message = message
        self.handling = handling  # what was being handled (see timeline.Via)
        self.decision = decision  # the table whose row failed, with the row and the inputs it read
        self.rule = rule
        self.inputs = inputs
        self.condition = condition  # or the goto condition that failed
        super().__init__(message)


class OpenRefused(ValueError):
    """The case cannot be opened: unknown case type or data that does not fit the policy."""

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        self.details = details or []
        super().__init__(message + "".join(f"\n  - {d}" for d in self.details))


class OpenFailed(OpenRefused):
    """The case cannot be opened because the policy failed on its data (a decision row that errs)."""
