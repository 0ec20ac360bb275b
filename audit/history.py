"""A case's inputs and record, read from its Temporal histories (every run of its continue-as-new chain).

The engine is a pure function of (policy, state, input, now). The history holds everything needed to
run it again: the opening (the start's `open` request), the pinned policy (the `resolve_policy`
activity's result), each accepted event (an accepted `submit_event` update, or an `event` signal with
the verdict of the `check_caller` activity on its sender), the action results (the engine hears of a
completed action as its `reports` event) and the timers that fired. Each input happened at the time
of the workflow task that handled it, the `WorkflowTaskStarted` event's time, which is what
`workflow.now()` returns there (plus the case's clock offset, zero for real cases).

What the workflow recorded sits in the same histories: the actions it scheduled (type, params, key),
the case status each accepted update answered with, the whole case state carried into each new run
(its timeline included), and the final status of a closed case.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import WorkflowTaskFailedCause
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent, WorkflowExecutionStartedEventAttributes
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter

from policy_engine.engine import CaseState
from workflows.contract import (
    PATCH_SIGNED_CALLERS,
    ActionOutcome,
    ActionRequest,
    CallerVerdict,
    CaseStart,
    CaseStatus,
    EventRequest,
    OpenRequest,
    ResolvedPayload,
    ResolveRequest,
    workflow_id_for,
)

T = TypeVar("T")

# Activity names as the workflow schedules them (the `activity.defn` names in activities/).
RESOLVE_POLICY = "resolve_policy"
CHECK_CALLER = "check_caller"
ACTION_ACTIVITIES = frozenset({"run_action", "open_linked_case"})
# The marker `workflow.patched` records, and the key of its details (the Python SDK's names).
PATCH_MARKER = "core_patch"
PATCH_DETAILS = "patch-data"

InputKind = Literal["event", "signal", "action", "timer"]


@dataclass(frozen=True)
class CaseReset:
    """An operator reset the case to an earlier point: the run `base_run_id` was abandoned after its
    first `after` inputs and the case went on in a new run from there (its events after that point
    are not the case's record any more)."""

    after: int
    at: dt.datetime
    base_run_id: str
    reason: str


class HistoryError(ValueError):
    """A history this module cannot read as a case's (not an AfterSalesCase, or cut short)."""


@dataclass(frozen=True)
class CaseInput:
    """One thing the engine received, at the case's time it received it.

    `event`: an accepted update; `signal`: a signalled event (`verdict` is the sender's check, None
    for a case begun before senders were checked); `action`: an action's activity ended (`outcome`
    when it completed, `failure` when it failed for good); `timer`: the workflow woke for a timer.
    """

    kind: InputKind
    at: dt.datetime
    request: EventRequest | None = None
    verdict: CallerVerdict | None = None
    action: ActionRequest | None = None
    outcome: ActionOutcome | None = None
    failure: str | None = None

    def describe(self) -> str:
        if self.request is not None:
            return self.request.name
        if self.action is not None:
            return f"result of {self.action.type}"
        return "timers due"


@dataclass(frozen=True)
class UpdateAnswer:
    """The status an accepted `submit_event` update answered with (`failure` when it failed)."""

    after: int  # how many inputs the case had received, this update's included
    status: CaseStatus | None
    failure: str | None


@dataclass(frozen=True)
class CarriedState:
    """The whole case state a run handed to the next one (continue-as-new)."""

    after: int
    state: CaseState
    policy_version: str


@dataclass
class CaseHistory:
    """A case as its histories tell it: its inputs in order, and what the workflow recorded."""

    workflow_id: str
    start: CaseStart
    resolve: ResolveRequest | None = None
    pinned: ResolvedPayload | None = None
    refused: str | None = None  # why the opening (or the start) was refused
    inputs: list[CaseInput] = field(default_factory=list)
    # Actions the workflow scheduled, in order, each with how many inputs the case had received then.
    actions: list[tuple[int, ActionRequest]] = field(default_factory=list)
    answers: list[UpdateAnswer] = field(default_factory=list)
    carried: list[CarriedState] = field(default_factory=list)
    final: CaseStatus | None = None  # the result of a closed case
    # The `workflow.patched` ids the case's runs recorded: the behaviours of the release that ran it
    # (a case begun by an earlier release records none, and keeps that release's behaviour).
    patches: set[str] = field(default_factory=set)
    resets: list[CaseReset] = field(default_factory=list)
    last_task_at: dt.datetime | None = None  # the case's time at its last workflow task

    @property
    def opening(self) -> OpenRequest:
        return self.start.open

    @property
    def case_id(self) -> str:
        return self.start.open.case_id

    @property
    def offset(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.start.clock_offset_seconds)

    @property
    def opened_at(self) -> dt.datetime:
        """When the case opened by its own clock (the request's `opened_at`, else the first task's time)."""
        if self.resolve is not None:
            return self.resolve.opened_at
        if self.start.open.opened_at is not None:
            return self.start.open.opened_at
        raise HistoryError(f"{self.workflow_id}: the history does not say when the case opened")


def _time(event: HistoryEvent) -> dt.datetime:
    return event.event_time.ToDatetime(tzinfo=dt.UTC)


class _Reader:
    """Walks the events of one run after another, keeping what a case's audit needs."""

    def __init__(self, converter: DataConverter, workflow_id: str) -> None:
        self.converter = converter
        self.workflow_id = workflow_id
        self.case: CaseHistory | None = None
        self.task_time: dt.datetime | None = None
        # Inputs that arrived before the workflow task that handles them (its time is theirs).
        self.arrived: list[CaseInput] = []
        self.scheduled: dict[int, tuple[str, Any]] = {}  # event id -> (activity name, its input)
        self.signals: deque[tuple[dt.datetime | None, EventRequest]] = deque()
        self.updates: dict[str, EventRequest] = {}
        self.update_inputs: dict[str, int] = {}
        self.run_patches: set[str] = set()  # markers of the run being read (patched() is per run)
        self.event_id = 0  # the event being read, to name it when it cannot be

    async def _decode(self, payloads: Payloads, kind: type[T]) -> T:
        if not payloads.payloads:
            raise HistoryError(f"{self.workflow_id}: an event carries no payload where a {kind.__name__} belongs")
        return await self._decode_payload(payloads.payloads[0], kind)

    async def _message(self, failure: Failure) -> str:
        """A failure's message. The project's failure converter moves it (and the stack trace) into
        the failure's encoded attributes, encrypted like the payloads; failures written before that,
        or by the server (a timeout, a reset), carry it in clear."""
        if not failure.HasField("encoded_attributes"):
            return failure.message
        attributes = await self._decode_payload(failure.encoded_attributes, dict)
        message = attributes.get("message")
        return message if isinstance(message, str) else failure.message

    async def _decode_payload(self, payload: Payload, kind: type[T]) -> T:
        try:
            value = (await self.converter.decode([payload], [kind]))[0]
        except Exception:  # any converter or codec error: the payload was written by something else
            value = None
        if not isinstance(value, kind):
            raise HistoryError(
                f"{self.workflow_id}: event {self.event_id} does not carry a readable {kind.__name__} "
                "(edited by hand, or encrypted with a key the project does not have)"
            )
        return value

    def _case(self) -> CaseHistory:
        if self.case is None:
            raise HistoryError(f"{self.workflow_id}: the history does not begin with the workflow's start")
        return self.case

    def _now(self) -> dt.datetime:
        """The case's time in the current workflow task."""
        case = self._case()
        if self.task_time is None:
            raise HistoryError(f"{self.workflow_id}: an event came before any workflow task")
        return self.task_time + case.offset

    async def read_run(self, history: WorkflowHistory) -> None:
        self.run_patches = set()
        for event in history.events:
            await self._read(event)
        self._take_unchecked_signals()

    def _take_unchecked_signals(self) -> None:
        """Signals a workflow task handled without asking `check_caller`: before PATCH_SIGNED_CALLERS
        (an earlier release, or a run that had not reached it yet) a signal was applied as sent."""
        if PATCH_SIGNED_CALLERS in self.run_patches:
            return
        case = self._case()
        while self.signals and self.signals[0][0] is not None:
            at, request = self.signals.popleft()
            assert at is not None
            case.inputs.append(CaseInput(kind="signal", at=at, request=request))

    async def _read(self, event: HistoryEvent) -> None:
        self.event_id = event.event_id
        which = event.WhichOneof("attributes")
        handler = getattr(self, f"_on_{which}", None)
        if handler is not None:
            await handler(event)

    async def _on_workflow_execution_started_event_attributes(self, event: HistoryEvent) -> None:
        start = await self._decode(event.workflow_execution_started_event_attributes.input, CaseStart)
        if self.case is None:
            if start.pinned is not None:
                raise HistoryError(f"{self.workflow_id}: the first run given is not the case's first run")
            self.case = CaseHistory(workflow_id=self.workflow_id, start=start)

    async def _on_workflow_task_started_event_attributes(self, event: HistoryEvent) -> None:
        if self.task_time is not None:
            self._take_unchecked_signals()  # the previous task handled them
        self.task_time = _time(event)
        case = self._case()
        case.last_task_at = self._now()
        for waiting in self.arrived:
            case.inputs.append(
                CaseInput(
                    kind=waiting.kind,
                    at=self._now(),
                    action=waiting.action,
                    outcome=waiting.outcome,
                    failure=waiting.failure,
                )
            )
        self.arrived.clear()
        # Signals reach the workflow in this task; their time is this task's.
        self.signals = deque((self._now() if at is None else at, req) for at, req in self.signals)

    async def _on_activity_task_scheduled_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_scheduled_event_attributes
        name = attrs.activity_type.name
        value: Any = None
        if name == RESOLVE_POLICY:
            value = await self._decode(attrs.input, ResolveRequest)
            self._case().resolve = value
        elif name in ACTION_ACTIVITIES:
            value = await self._decode(attrs.input, ActionRequest)
            case = self._case()
            case.actions.append((len(case.inputs) + len(self.arrived), value))
        self.scheduled[event.event_id] = (name, value)

    async def _on_activity_task_completed_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_completed_event_attributes
        name, value = self.scheduled.get(attrs.scheduled_event_id, ("", None))
        case = self._case()
        if name == RESOLVE_POLICY:
            case.pinned = await self._decode(attrs.result, ResolvedPayload)
        elif name == CHECK_CALLER:
            verdict = await self._decode(attrs.result, CallerVerdict)
            if self.signals:
                at, request = self.signals.popleft()
                assert at is not None
                case.inputs.append(CaseInput(kind="signal", at=at, request=request, verdict=verdict))
        elif name in ACTION_ACTIVITIES:
            outcome = await self._decode(attrs.result, ActionOutcome)
            self.arrived.append(CaseInput(kind="action", at=_time(event), action=value, outcome=outcome))

    async def _on_activity_task_failed_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_failed_event_attributes
        self._failed(event, attrs.scheduled_event_id, await self._message(attrs.failure))

    async def _on_activity_task_timed_out_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.activity_task_timed_out_event_attributes
        self._failed(event, attrs.scheduled_event_id, await self._message(attrs.failure) or "the activity timed out")

    def _failed(self, event: HistoryEvent, scheduled_event_id: int, message: str) -> None:
        name, value = self.scheduled.get(scheduled_event_id, ("", None))
        if name in ACTION_ACTIVITIES:
            self.arrived.append(CaseInput(kind="action", at=_time(event), action=value, failure=message))

    async def _on_workflow_task_failed_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.workflow_task_failed_event_attributes
        if attrs.cause != WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW:
            return  # a worker's failed task is retried: the case's record is the retry's
        case = self._case()
        case.resets.append(
            CaseReset(
                after=len(case.inputs),
                at=_time(event) + case.offset,
                base_run_id=attrs.base_run_id,
                reason=await self._message(attrs.failure),
            )
        )

    async def _on_marker_recorded_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.marker_recorded_event_attributes
        details = attrs.details.get(PATCH_DETAILS)
        if attrs.marker_name != PATCH_MARKER or details is None:
            return
        marker = await self._decode(details, dict)
        patch = marker.get("id")
        if isinstance(patch, str):
            self.run_patches.add(patch)
            self._case().patches.add(patch)

    async def _on_timer_fired_event_attributes(self, event: HistoryEvent) -> None:
        self.arrived.append(CaseInput(kind="timer", at=_time(event)))

    async def _on_workflow_execution_signaled_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_signaled_event_attributes
        request = await self._decode(attrs.input, EventRequest)
        self.signals.append((None, request))

    async def _on_workflow_execution_update_accepted_event_attributes(self, event: HistoryEvent) -> None:
        accepted = event.workflow_execution_update_accepted_event_attributes.accepted_request
        if accepted.input.name != "submit_event":
            return
        request = await self._decode(accepted.input.args, EventRequest)
        case = self._case()
        case.inputs.append(CaseInput(kind="event", at=self._now(), request=request))
        self.update_inputs[accepted.meta.update_id] = len(case.inputs)

    async def _on_workflow_execution_update_completed_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_update_completed_event_attributes
        after = self.update_inputs.get(attrs.meta.update_id)
        if after is None:
            return  # the `open` update: its answer is the first status, not an input
        if attrs.outcome.HasField("failure"):
            answer = UpdateAnswer(after=after, status=None, failure=await self._message(attrs.outcome.failure))
        else:
            answer = UpdateAnswer(
                after=after, status=await self._decode(attrs.outcome.success, CaseStatus), failure=None
            )
        self._case().answers.append(answer)

    async def _on_workflow_execution_completed_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_completed_event_attributes
        self._case().final = await self._decode(attrs.result, CaseStatus)

    async def _on_workflow_execution_failed_event_attributes(self, event: HistoryEvent) -> None:
        failure = event.workflow_execution_failed_event_attributes.failure
        while failure.HasField("activity_failure_info") and failure.HasField("cause"):
            failure = failure.cause  # "Activity task failed": the reason is the activity's (resolve_policy's)
        self._case().refused = await self._message(failure)

    async def _on_workflow_execution_continued_as_new_event_attributes(self, event: HistoryEvent) -> None:
        attrs = event.workflow_execution_continued_as_new_event_attributes
        carried = await self._decode(attrs.input, CaseStart)
        if carried.pinned is not None:
            case = self._case()
            case.carried.append(
                CarriedState(
                    after=len(case.inputs), state=carried.pinned.state, policy_version=carried.pinned.policy_version
                )
            )


async def read_histories(runs: Sequence[WorkflowHistory], converter: DataConverter) -> CaseHistory:
    """A case from the histories of its runs, in any order (`chain_runs` puts them in order).

    The runs may come from a server (`fetch_case_histories`) or from exported JSON files
    (`WorkflowHistory.from_json`, see `load_history_file`)."""
    if not runs:
        raise HistoryError("no history given")
    ordered = chain_runs(runs)
    reader = _Reader(converter, ordered[0].workflow_id)
    for run in ordered:
        await reader.read_run(run)
    return reader._case()


def _started(history: WorkflowHistory) -> WorkflowExecutionStartedEventAttributes:
    if not history.events or not history.events[0].HasField("workflow_execution_started_event_attributes"):
        raise HistoryError(f"{history.workflow_id}: the history does not begin with the workflow's start")
    return history.events[0].workflow_execution_started_event_attributes


def chain_runs(runs: Sequence[WorkflowHistory]) -> list[WorkflowHistory]:
    """The runs of one case, first run first: each run after the first names the run it continues."""
    by_id = {_started(run).original_execution_run_id: run for run in runs}
    successors = {_started(run).continued_execution_run_id: run for run in runs}
    firsts = [run for run in runs if _started(run).continued_execution_run_id not in by_id]
    if len(firsts) != 1 or len(successors) != len(runs):
        raise HistoryError(
            f"{runs[0].workflow_id}: the histories given are not one case's runs, each continuing the "
            "one before (give the first run's history and every later one)"
        )
    ordered = [firsts[0]]
    while (following := successors.get(_started(ordered[-1]).original_execution_run_id)) is not None:
        ordered.append(following)
    if len(ordered) != len(runs):
        raise HistoryError(f"{runs[0].workflow_id}: the histories given are not one chain of runs")
    return ordered


def load_history_file(path: Path) -> WorkflowHistory:
    """A run's history exported as JSON (`temporal workflow show --output json`, the web UI's
    download, `WorkflowHistory.to_json`). HistoryError says why a file is not one, naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable as UTF-8 text"
        raise HistoryError(f"{path}: {reason}") from None
    try:
        history = WorkflowHistory.from_json(path.stem, text)
    except (ValueError, TypeError, json_format.ParseError):
        raise HistoryError(
            f"{path}: not a Temporal history in JSON (export one with `temporal workflow show --output json`)"
        ) from None
    if not history.events:
        raise HistoryError(f"{path}: the history has no events")
    return history


async def fetch_case_histories(client: Client, case_id: str) -> list[WorkflowHistory]:
    """The histories of every run of the case's current chain, first run first.

    The chain is followed backwards from the current run, each run naming the one it continues: after
    a reset that is the run the reset made (its copied events and the new path), not the abandoned
    one, whose events after the reset point are not the case's record any more."""
    workflow_id = workflow_id_for(case_id)
    runs = [await client.get_workflow_handle(workflow_id).fetch_history()]
    while previous := _started(runs[0]).continued_execution_run_id:
        runs.insert(0, await client.get_workflow_handle(workflow_id, run_id=previous).fetch_history())
    return runs


async def fetch_case(client: Client, case_id: str) -> CaseHistory:
    """A case as its histories tell it (the client's data converter decrypts the payloads)."""
    return await read_histories(await fetch_case_histories(client, case_id), client.data_converter)
