"""The audit trail read back: each entry as the pydantic model of its kind, with typed fields.

For coverage and the command line (`simulate`, `case timeline`), which read entries without matching
their text: `TransitionEntry.detail.via` is a `Via`, `SlaEntry.detail.status` one of the statuses.
`typed_entry` reads a `TimelineEntry` or its JSON; keys a kind does not declare are kept
(`model_extra`), and `to_wire` gives the entry back as the engine wrote it. The keys are those
`timeline.TimelineRecorder` writes, declared in the same order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, TypeAdapter

from policy_engine.engine.case import Actor, TimelineEntry, TimelineKind
from policy_engine.engine.timeline import SlaStatus, Via


def _via(value: Any) -> Via:
    if isinstance(value, Via):
        return value
    if isinstance(value, str):
        return Via.parse(value)
    raise ValueError(f"`via` is text, not {value!r}")


ViaText = Annotated[Via, PlainValidator(_via), PlainSerializer(str, return_type=str)]


class _Detail(BaseModel):
    # Keys written by earlier releases, or by later ones, are kept as they are.
    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)


class OpenDetail(_Detail):
    policy: str
    version: str


class EventDetail(_Detail):
    actor: Actor
    data: dict[str, Any]
    key: str | None = None


class RefusedDetail(_Detail):
    reason: str
    actor: Actor
    # Empty since the digest replaced it; entries written before carry the refused data here.
    data: dict[str, Any] = Field(default_factory=dict)
    data_sha256: str | None = None  # of the data's canonical JSON (see `digest`), absent before
    data_bytes: int | None = None  # the size of that JSON


class TimerDetail(_Detail):
    state: str | None = None  # the state whose timer fired
    error: str | None = None  # why the timer was not set (its window has no start)


class TransitionDetail(_Detail):
    # A move (`from`, `to`, `via`), or what stopped one: a goto condition that erred (`error`,
    # `condition`, cases begun before such an error stopped the handler) or too many moves (`error`, `to`).
    error: str | None = None
    from_: str | None = Field(default=None, alias="from")  # None: the opening
    to: str | None = None
    via: ViaText | None = None
    condition: str | None = None


class DecisionDetail(_Detail):
    # A table taken (`rule`, `outputs`, `inputs`, and `errors` passed over), or a window that could
    # not be computed (`window`, `error`).
    rule: str | None = None
    outputs: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None
    errors: list[str] | None = None
    window: str | None = None
    error: str | None = None


class ActionDetail(_Detail):
    key: str | None = None  # absent for `record`, which keeps a value in the case and runs nothing
    params: dict[str, Any] | None = None
    error: str | None = None  # a parameter could not be computed: the action did not run
    ran: bool | None = None


class SlaDetail(_Detail):
    status: SlaStatus
    due: str | None = None  # ISO 8601, as written
    remaining_seconds: int | None = None


class EscalationDetail(_Detail):
    started: bool | None = None
    cause: str | None = None  # what stops the ladder (see ladders.py)
    level: int | None = None
    stopped: bool | None = None


class CounterDetail(_Detail):
    value: int


class VariableDetail(_Detail):
    value: Any = None
    error: str | None = None


class CloseDetail(_Detail):
    pass


class ErrorDetail(_Detail):
    # Where the policy failed: on an event (`event`, `actor`, `data`) or a timer (`timer`); at a
    # decision row (`decision`, `rule`, `inputs`) or a goto condition (`condition`); `while` handling what.
    message: str
    event: str | None = None
    actor: Actor | None = None
    data: dict[str, Any] | None = None
    timer: str | None = None
    decision: str | None = None
    rule: str | None = None
    inputs: dict[str, Any] | None = None
    condition: str | None = None
    while_: ViaText | None = Field(default=None, alias="while")


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    at: dt.datetime
    kind: TimelineKind  # each kind narrows it to its own
    name: str = ""  # the event, timer, table, action type, clock, ladder, counter or variable
    detail: _Detail  # each kind narrows it to its own
    policy_version: str = ""

    def to_wire(self) -> TimelineEntry:
        """The entry as the engine wrote it."""
        return TimelineEntry(
            at=self.at,
            kind=self.kind,
            name=self.name,
            detail=self.detail.model_dump(by_alias=True, exclude_unset=True),
            policy_version=self.policy_version,
        )


class OpenEntry(_Entry):
    kind: Literal["open"]
    detail: OpenDetail


class EventEntry(_Entry):
    kind: Literal["event"]
    detail: EventDetail


class RefusedEntry(_Entry):
    kind: Literal["refused"]
    detail: RefusedDetail


class TimerEntry(_Entry):
    kind: Literal["timer"]
    detail: TimerDetail


class TransitionEntry(_Entry):
    kind: Literal["transition"]
    detail: TransitionDetail


class DecisionEntry(_Entry):
    kind: Literal["decision"]
    detail: DecisionDetail


class ActionEntry(_Entry):
    kind: Literal["action"]
    detail: ActionDetail


class SlaEntry(_Entry):
    kind: Literal["sla"]
    detail: SlaDetail


class EscalationEntry(_Entry):
    kind: Literal["escalation"]
    detail: EscalationDetail


class CounterEntry(_Entry):
    kind: Literal["counter"]
    detail: CounterDetail


class VariableEntry(_Entry):
    kind: Literal["variable"]
    detail: VariableDetail


class CloseEntry(_Entry):
    kind: Literal["close"]
    detail: CloseDetail = CloseDetail()


class ErrorEntry(_Entry):
    kind: Literal["error"]
    detail: ErrorDetail


TypedEntry = Annotated[
    OpenEntry
    | EventEntry
    | RefusedEntry
    | TimerEntry
    | TransitionEntry
    | DecisionEntry
    | ActionEntry
    | SlaEntry
    | EscalationEntry
    | CounterEntry
    | VariableEntry
    | CloseEntry
    | ErrorEntry,
    Field(discriminator="kind"),
]
_TYPED: TypeAdapter[TypedEntry] = TypeAdapter(TypedEntry)


def typed_entry(entry: TimelineEntry | Mapping[str, Any]) -> TypedEntry:
    """An entry, or its JSON (as `simulate --json` prints it), as the model of its kind."""
    if isinstance(entry, TimelineEntry):
        entry = {
            "at": entry.at,
            "kind": entry.kind,
            "name": entry.name,
            "detail": entry.detail,
            "policy_version": entry.policy_version,
        }
    return _TYPED.validate_python(entry)
