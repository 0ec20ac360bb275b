"""What a case takes on trust from outside, and what it does not (README "Security model").

Workflow code, deterministic: the checks below read only the start's input, the workflow's info and
the case's pinned policy. What depends on the worker's configuration (may a case be backdated?) is
decided by the worker in the activity that pins the policy (`activities.start_checks`), so that its
answer is in the history.

- A new case's start carries its opening request only: `pinned` (state, policy, pending actions) is
  what the case's own continue-as-new carries, and a fresh run carrying it is refused at once.
- Its clock offset, a caller's `opened_at` and a history limit are claims (`StartClaims`) the worker
  allows or refuses.
- An action's `reports` event (refund_completed) enters the case from the action's result, in the
  workflow; from outside only with the one-time report key its effect carried.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from policy_engine.engine import CaseState, EventIn, RunAction, StepResult, TimelineRecorder
from policy_engine.engine.digest import digest_of
from policy_engine.engine.steps import working_copy
from policy_engine.language import ResolvedPolicy, all_actions
from workflows.contract import (
    DEFAULT_HISTORY_LIMIT,
    OPENING_SKEW_SECONDS,
    PLATFORM_ONLY,
    CaseStart,
    ResolveRequest,
    StartClaims,
)


def forged_start(start: CaseStart, continued_run_id: str | None, cron_schedule: str | None) -> str | None:
    """Why this run's start is refused outright, or None.

    `continued_run_id` is set by the server only for a run that follows another of the same workflow
    (continue-as-new, a retry, a cron run): no caller can set it. A cron schedule would make the
    server start such runs itself with the caller's input, so a case never runs on one; a retry
    follows only a run that failed retryably, and a refused start fails non-retryably.
    """
    if cron_schedule:
        return "a case is not started on a cron schedule: start it once, with its opening request only"
    if continued_run_id is None and start.pinned is not None:
        carried = "a pinned policy and state"
        if start.pinned.pending_actions:
            carried += f" and {len(start.pinned.pending_actions)} pending action(s)"
        return (
            f"a new case's start may carry its opening request only, not {carried}: those come only "
            "from the case's own continue-as-new"
        )
    return None


def start_claims(start: CaseStart, server_time: dt.datetime) -> StartClaims | None:
    """What a new case's start asks for beyond its opening request (None: nothing), for the worker to judge."""
    history_limit = None if start.history_limit == DEFAULT_HISTORY_LIMIT else start.history_limit
    if start.open.opened_at is None and not start.clock_offset_seconds and history_limit is None:
        return None
    return StartClaims(
        server_time=server_time, clock_offset_seconds=start.clock_offset_seconds, history_limit=history_limit
    )


def backdating_note(request: ResolveRequest) -> dict[str, Any] | None:
    """How a case the worker allowed to be backdated was backdated (for its `open` timeline entry).

    None when it was not: no clock offset, and `opened_at` within the skew of the server's time. Who
    asked cannot be known yet (callers are not identified); that it was, and by how much, is kept.
    """
    claims = request.claims
    if claims is None:
        return None
    behind = (claims.server_time - request.opened_at).total_seconds()
    if not claims.clock_offset_seconds and abs(behind) <= OPENING_SKEW_SECONDS:
        return None
    return {
        "opened_at": request.opened_at.isoformat(),
        "server_time": claims.server_time.isoformat(),
        "seconds_before_server_time": behind,
        "clock_offset_seconds": claims.clock_offset_seconds,
    }


def note_backdating(result: StepResult, note: dict[str, Any]) -> StepResult:
    """The opening's result with `backdated` added to its `open` entry (the entry's other keys unchanged)."""
    timeline = result.state.timeline
    for i, entry in enumerate(timeline):
        if entry.kind == "open":
            timeline[i] = entry.model_copy(update={"detail": {**entry.detail, "backdated": note}})
            break
    return result


# -- the worker's own reports ------------------------------------------------------------------------


def reported_events(policy: ResolvedPolicy) -> frozenset[str]:
    """The events the policy's actions report back by (a refund's `reports`, refund_completed by default)."""
    names: set[str] = set()
    for action, _ in all_actions(policy.policy):
        reports = getattr(getattr(action, action.type, None), "reports", None)
        if isinstance(reports, str):
            names.add(reports)
    return frozenset(names)


def report_digest(report_key: str) -> str:
    """What the case keeps of a deferred report's one-time key (the key itself is never in its history
    before the report uses it)."""
    return hashlib.sha256(report_key.encode()).hexdigest()


def platform_only(name: str, key: str | None, reported: frozenset[str], awaiting: dict[str, str]) -> str | None:
    """Why an event from outside is refused because only the platform reports it, or None.

    A `reports` event is accepted from outside only with the report key its effect carried, while the
    case waits for that report (a deferred report: AFTERSALES_DEFERRED_REPORTS).
    """
    if name not in reported:
        return None
    if key is not None and awaiting.get(report_digest(key)) == name:
        return None
    return (
        f"'{name}' {PLATFORM_ONLY}: it comes back from the effect that reports it, or from the service "
        "the effect went to, with the report key the effect carried"
    )


def refused_step(state: CaseState, event: EventIn, reason: str) -> StepResult:
    """The case with the event refused as the engine refuses one: counted, and in the timeline."""
    work = working_copy(state)
    work.refused += 1
    TimelineRecorder(work.timeline, event.at, state.policy_version[:12]).refused(
        event.name, reason, event.actor, event.data
    )
    return StepResult(state=work, refused=reason)


def oversized_step(state: CaseState, event: EventIn, reason: str) -> StepResult:
    """The case with an event over its bounds refused: like `refused_step`, but the entry keeps the
    data's size and digest (`data_bytes`, `data_sha256`, as the engine records any refused event) instead
    of the data."""
    digest = digest_of(event.data)
    result = refused_step(state, event.model_copy(update={"data": {}}), reason)
    timeline = result.state.timeline
    timeline[-1] = timeline[-1].model_copy(
        update={
            "detail": {
                **timeline[-1].detail,
                "data_bytes": digest.size,
                "data_sha256": digest.sha256,
            }
        }
    )
    return result


def with_failed_action(state: CaseState, command: RunAction, error: str, at: dt.datetime) -> CaseState:
    """The case with an action that failed for good in its timeline (`ran: false`, the key and why)."""
    work = working_copy(state)
    TimelineRecorder(work.timeline, at, state.policy_version[:12]).action_failed(
        command.type, f"{command.key}: {error}"
    )
    return work
