"""The stable contract with backend systems: names, task queue and the messages they exchange.

Change these only by adding optional fields: running cases and callers depend on them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ledger.opening import CaseOpening
from policy_engine.engine import CaseState, RunAction, TimelineEntry

WORKFLOW_TYPE = "AfterSalesCase"
DEFAULT_TASK_QUEUE = "aftersales"
# The refusal a case gives while its policy is being resolved; CaseClient retries it for a moment.
STILL_OPENING = "the case is still opening"
UPDATE_SUBMIT_EVENT = "submit_event"
# Sent with the start (update-with-start): answers with the first status once the case is open, so
# an opener needs one round trip and no polling. Refused when the case exists with other data.
UPDATE_OPEN = "open"
CASE_EXISTS = "the case already exists with other data"
CASE_REFUSED = "CaseRefused"  # the error type when a case cannot open (its data fits no policy)
# workflow.patched id: from it on, a decision row or goto condition that errs stops the handler.
PATCH_STOP_ON_POLICY_ERROR = "stop-on-policy-error"
POLICY_FAILED = "PolicyFailed"  # the error type of an event the policy failed on (not applied)
# --- what a caller may not claim (README "Security model") ---
# The error type of a start that carries what only the case's own continue-as-new may carry.
START_REFUSED = "StartRefused"
# workflow.patched id: from it on, an action's `reports` event sent by a signal without the report key
# its effect carried is refused (recorded in the timeline) instead of being applied.
PATCH_PLATFORM_REPORTS = "platform-reports-only"
# In the refusal of a `reports` event (refund_completed) sent from outside without its report key.
PLATFORM_ONLY = "is reported by the platform only"
# workflow.patched id: from it on, an event sent by the `event` signal is admitted only when the
# `check_caller` activity admits its token (a refusal is recorded with its reason, never applied).
PATCH_SIGNED_CALLERS = "signed-callers"
CALLER_REFUSED = "caller refused"  # the start of a refusal's reason for a call without a valid token
JTI_MEMORY = 512  # token ids a case remembers (their tokens live minutes; the oldest are forgotten first)
# How far a caller's `opened_at` may be from the server's time when the worker does not allow backdating.
OPENING_SKEW_SECONDS = 300
DEFAULT_HISTORY_LIMIT = 10_000
# workflow.patched id: from it on, a signalled event whose data or key is over the case's bounds
# (workflows.bounds) is refused (a `refused` entry with its size and digest, never its data) before
# its caller is checked, instead of being checked and applied.
PATCH_BOUNDED_SIGNALS = "bounded-signals"
# workflow.patched id: from it on, continue-as-new carries a compacted case (workflows.compaction):
# the most recent timeline entries, refused entries without their data, the last event keys.
PATCH_COMPACT_CARRIED_STATE = "compact-carried-state"
# workflow.patched id: from it on, a case whose worker keeps a ledger (`resolve_policy`'s `ledger`)
# sends its new timeline entries to the `record_facts` activity after each change (docs/ledger.md).
PATCH_LEDGER_FACTS = "ledger-facts"
# workflow.patched id: from it on, a paused SLA clock whose target is in working days keeps the time it
# had left in seconds falling on working days (a pause over a weekend or a holiday grants no day)
# instead of elapsed seconds. Asked when a case whose policy has such a clock opens; kept in the
# case's state (`CaseState.working_day_pauses`) for its life.
PATCH_WORKING_DAY_PAUSES = "working-day-pauses"
# workflow.patched id: from it on, a step that closes the case with no timer change and no action to
# run (an update closing a case that has no timer left) wakes the run's loop, which then returns.
PATCH_CLOSE_ENDS_RUN = "close-ends-run"
SIGNAL_EVENT = "event"
QUERY_STATUS = "status"
QUERY_TIMELINE = "timeline"
QUERY_OPENING = "opening"
QUERY_IDLE = "idle"  # true when the case has nothing left to handle until time passes or a message comes


def workflow_id_for(case_id: str) -> str:
    return f"case-{case_id}"


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataLimits(_Msg):
    """The worker's caps on what callers send (AFTERSALES_MAX_*), recorded in a case's history by
    `resolve_policy` and carried across continue-as-new, so that no caller can set them."""

    case_data_bytes: int = 64 * 1024  # an opening's data, as canonical JSON
    event_data_bytes: int = 64 * 1024  # an event's data, as canonical JSON
    data_depth: int = 32  # how deeply mappings and lists may nest in either


class OpenRequest(_Msg):
    case_id: str
    case_type: str
    data: dict[str, Any] = Field(default_factory=dict)
    opened_at: dt.datetime | None = None  # default: when the workflow starts
    links: dict[str, str] = Field(default_factory=dict)
    # The caller's signed token (compact JWT, `service.identity.mint` for `open:<case_type>`).
    token: str | None = None


def same_opening(a: OpenRequest, b: OpenRequest) -> bool:
    """Whether a second open of a case asks for the same case (so it may answer with the first)."""
    if a.case_type != b.case_type or a.data != b.data:
        return False
    return a.opened_at is None or b.opened_at is None or a.opened_at == b.opened_at


class LedgerCursor(_Msg):
    """How far a case has written its timeline to the ledger, carried across continue-as-new.

    Entry numbers are absolute (0 is the opening): compaction drops old entries from the carried
    timeline, so the entry at position i > 0 of a run's timeline is number i + `dropped`.
    """

    opening: CaseOpening  # sent with every batch (the ledger's `cases` row)
    recorded: int = Field(default=0, ge=0)  # entries written so far: the number of the next one
    dropped: int = Field(default=0, ge=0)  # entries earlier runs left behind after the `open` entry


class PinnedCase(_Msg):
    """What a case carries across continue-as-new: its pinned policy and its state."""

    policy_version: str
    policy_content: dict[str, Any]
    state: CaseState
    pending_actions: list[RunAction] = Field(default_factory=list)
    # Kept across continue-as-new once decided (see AfterSalesCase.stop_on_policy_error).
    stop_on_policy_error: bool | None = None
    # Deferred reports the case waits for: the SHA-256 of each effect's report key -> the event name.
    awaiting_reports: dict[str, str] = Field(default_factory=dict)
    # Token ids the case has admitted lately -> their `exp` (a token is used once per case).
    seen_jtis: dict[str, int] = Field(default_factory=dict)
    # The worker's caps the case opened with (None: a case that opened before they were recorded).
    limits: DataLimits | None = None
    # Where the case's ledger writing stands (None: the case writes no ledger).
    ledger: LedgerCursor | None = None


class CaseStart(_Msg):
    open: OpenRequest
    pinned: PinnedCase | None = None
    # Continue as new when the history reaches this many events (Temporal also suggests it).
    history_limit: int = DEFAULT_HISTORY_LIMIT
    # Runs the case's clock this far ahead of (or behind) the server's: a scenario from the past
    # replayed as a live case (policy drills, the scenario parity test). Zero for real cases.
    clock_offset_seconds: float = 0.0
    # Keep the CaseState search attribute current at every transition (one visibility write each,
    # the largest server cost of a case). False: attributes are written when the case opens and
    # closes and when an SLA breaches or it escalates, so lists by state see closed cases only. Kept
    # for the case's life, so replaying a case writes what it wrote.
    list_by_state: bool = True


class EventRequest(_Msg):
    name: str
    role: str
    actor_id: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    key: str | None = None  # idempotency key: the same key twice is applied once
    # The caller's signed token (compact JWT, `service.identity.mint`) for this case, event, role, data.
    token: str | None = None


class StartClaims(_Msg):
    """What a new case's start asks for beyond its opening request, for the worker to allow or refuse.

    The worker's configuration decides (`activities.start_checks`), in the activity that pins the
    policy, so that its answer is in the history: a worker whose setting changed later still replays
    the cases it allowed.
    """

    server_time: dt.datetime  # the workflow's time when the case opened (ResolveRequest.opened_at is the case's)
    clock_offset_seconds: float = 0.0
    history_limit: int | None = None  # set when the start asked for another than the default


class ResolveRequest(_Msg):
    case_type: str
    data: dict[str, Any]
    opened_at: dt.datetime
    claims: StartClaims | None = None  # None: the start asked for nothing beyond its opening
    # The opening's caller, checked by the worker (AFTERSALES_CALLERS) when it pins the policy.
    case_id: str | None = None
    token: str | None = None
    checked_at: dt.datetime | None = None  # the workflow's time at the opening


class CallerCheck(_Msg):
    """A signalled event's caller, for the `check_caller` activity (its verdict goes into the history)."""

    case_id: str
    name: str
    role: str
    data: dict[str, Any] = Field(default_factory=dict)
    token: str | None = None
    at: dt.datetime  # the workflow's time when the signal arrived
    seen_jtis: list[str] = Field(default_factory=list)


class CallerVerdict(_Msg):
    admitted: bool
    code: str = ""
    reason: str = ""
    principal: str | None = None
    jti: str | None = None
    expires: int | None = None


class ResolvedPayload(_Msg):
    policy_id: str
    policy_version: str
    policy_content: dict[str, Any]
    limits: DataLimits | None = None  # the worker's caps, pinned by the case (None in older histories)
    # Whether the case writes its facts to the ledger (AFTERSALES_LEDGER); False in older histories.
    ledger: bool = False


class ActionRequest(_Msg):
    case_id: str
    case_type: str
    workflow_id: str
    policy_version: str
    key: str
    type: str
    params: dict[str, Any]
    reports: str | None = None  # the event by which this action's result comes back (refund_completed)


class ActionOutcome(_Msg):
    key: str
    delivered: bool  # False when the key was already delivered (a retry after a crash)
    detail: str = ""
    # False when the result comes back later as the `reports` event from outside (a payment callback);
    # True reports success to the case at once.
    completed: bool = True
    # With completed False: the SHA-256 of the one-time report key the effect carried (outbox row,
    # webhook payload); the `reports` event from outside is accepted only with that key as its key.
    report_digest: str | None = None


class Deadline(_Msg):
    name: str
    due: dt.datetime


class CaseStatus(_Msg):
    case_id: str
    case_type: str
    state: str
    closed: bool
    opened_at: dt.datetime
    policy_id: str
    policy_version: str
    deadlines: list[Deadline] = Field(default_factory=list)
    sla: dict[str, dict[str, Any]] = Field(default_factory=dict)
    accepted_events: dict[str, list[str]] = Field(default_factory=dict)  # event -> roles
    counters: dict[str, int] = Field(default_factory=dict)
    variables: dict[str, Any] = Field(default_factory=dict)
    records: dict[str, Any] = Field(default_factory=dict)
    decisions: dict[str, str] = Field(default_factory=dict)
    escalation_level: int = 0
    refused_events: int = 0
    # Set on an update answer when the idempotency key was seen before, and on an `open` answer when
    # the case already existed (the opening was a repeat).
    duplicate: bool = False


def status_of(state: CaseState, accepted: dict[str, list[str]], *, duplicate: bool = False) -> CaseStatus:
    return CaseStatus(
        case_id=state.case_id,
        case_type=state.case_type,
        state=state.state,
        closed=state.closed,
        opened_at=state.opened_at,
        policy_id=state.policy_id,
        policy_version=state.policy_version,
        deadlines=[Deadline(name=n, due=d) for n, d in sorted(state.timers.items(), key=lambda kv: kv[1])],
        sla={name: {"status": c.status, "due": c.due.isoformat() if c.due else None} for name, c in state.sla.items()},
        accepted_events=accepted,
        counters=dict(state.counters),
        variables=dict(state.vars),
        records=dict(state.records),
        decisions={k: v.rule for k, v in state.decisions.items()},
        escalation_level=state.escalation_level,
        refused_events=state.refused,
        duplicate=duplicate,
    )


class Timeline(_Msg):
    case_id: str
    policy_id: str
    policy_version: str
    entries: list[TimelineEntry]
