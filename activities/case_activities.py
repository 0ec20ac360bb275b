"""The activities the case workflow calls: resolve a policy, run an action, open a linked case.

Every effect carries the engine's idempotency key ("<case_id>/<seq>/<type>"). The outbox row is
written with INSERT OR IGNORE before anything leaves the building, so a worker killed at any moment
and retried by Temporal never produces a second effect.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any, Protocol

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from activities.linked_cases import LINKED_CASE_TAKEN, why_not_ours
from activities.outbox import Outbox
from activities.policy_source import PolicySource
from activities.start_checks import Backdating, start_refusal
from activities.webhook import WebhookSink
from policy_engine.language import SelectionError
from service.identity.admission import CallerGate, claimed_role, no_gate, register_gate
from service.identity.grants import Grants, Principal, PublicKey
from service.identity.keys import new_private_key, public_pem
from service.identity.tokens import MAX_LIFETIME, mint
from service.identity.tokens import opening as opening_name
from workflows.bounds import case_data_problem, case_id_problem
from workflows.contract import (
    CALLER_REFUSED,
    CASE_REFUSED,
    DEFAULT_TASK_QUEUE,
    WORKFLOW_TYPE,
    ActionOutcome,
    ActionRequest,
    CallerCheck,
    CallerVerdict,
    CaseStart,
    DataLimits,
    OpenRequest,
    ResolvedPayload,
    ResolveRequest,
    workflow_id_for,
)
from workflows.trust import report_digest

log = structlog.get_logger("aftersales.activities")


class Sink(Protocol):
    """Where effects go; `deliver` returns False when this key was already delivered (a retry)."""

    outbox: Outbox

    def deliver(self, request: ActionRequest, report_key: str | None = None) -> bool: ...


class OutboxSink:
    """Effects land in the SQLite outbox, where downstream systems (or an operator) pick them up."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def deliver(self, request: ActionRequest, report_key: str | None = None) -> bool:
        return self.outbox.record(
            request.key, request.case_id, request.case_type, request.type, request.params, report_key=report_key
        )


class WebhookDeliverySink:
    """Outbox row first (the dedupe), then the signed POST; a delivered row is never sent again.

    A worker killed between the POST and `mark_delivered` sends once more on retry, with the same
    idempotency key header, so the receiver sees one effect.
    """

    def __init__(self, outbox: Outbox, webhook: WebhookSink) -> None:
        self.outbox = outbox
        self.webhook = webhook

    def deliver(self, request: ActionRequest, report_key: str | None = None) -> bool:
        self.outbox.record(
            request.key, request.case_id, request.case_type, request.type, request.params, report_key=report_key
        )
        if self.outbox.is_delivered(request.key):
            return False
        payload = _payload(request)
        kept = self.outbox.report_key_of(request.key)  # the first attempt's, if it was not this one
        if kept is not None:
            payload["report_key"] = kept  # send `reports` back with this key (README "Security model")
        self.webhook.deliver(payload, request.key)  # raises: Temporal retries (or gives up on 4xx)
        self.outbox.mark_delivered(request.key)
        return True


def _payload(request: ActionRequest) -> dict[str, Any]:
    return {
        "key": request.key,
        "case_id": request.case_id,
        "case_type": request.case_type,
        "workflow_id": request.workflow_id,
        "policy_version": request.policy_version,
        "type": request.type,
        "params": request.params,
        "reports": request.reports,
    }


class CaseActivities:
    """Holds the worker's policy source, sink and client; `activities()` is what the Worker registers."""

    def __init__(
        self,
        source: PolicySource,
        sink: Sink,
        client: Callable[[], Client],
        *,
        task_queue: str = DEFAULT_TASK_QUEUE,
        deferred_reports: Callable[[ActionRequest], bool] | None = None,
        backdating: Backdating | None = None,
        callers: CallerGate | None = None,
        worker_key: Ed25519PrivateKey | None = None,
        limits: DataLimits | None = None,
        ledger: bool = False,
    ) -> None:
        self.source = source
        self.sink = sink
        self.client = client
        self.task_queue = task_queue
        # Which results come back later from outside (a payment callback sends refund_completed)
        # instead of being reported when the effect is handed over.
        self.deferred_reports = deferred_reports or (lambda _request: False)
        # What a new case's start may ask for beyond its opening (a backdated opening): see start_checks.
        self.backdating = backdating or Backdating()
        # The caps on callers' data (AFTERSALES_MAX_*): an opening over them is refused here, and the
        # case pins them from this activity's result for its update validators and signals.
        self.limits = limits or DataLimits()
        # Whether the cases this worker opens write their facts to the ledger (AFTERSALES_LEDGER; the
        # worker then registers `record_facts`): pinned by each case from `resolve_policy`'s result.
        self.ledger = ledger
        # Who may call (AFTERSALES_CALLERS, the grants file): the workflow's validators read it through
        # the gate registered for this task queue; None refuses every caller (deny by default).
        # The worker opens linked cases itself, signing as WORKER_PRINCIPAL with its own key: the one
        # every worker process of the task queue shares (AFTERSALES_WORKER_KEY), else one made here,
        # which only this process knows (tests, a single process).
        self._worker_key = worker_key if worker_key is not None else new_private_key()
        worker = Principal(
            WORKER_PRINCIPAL,
            frozenset({"system"}),
            frozenset(source.current().case_types),
            (PublicKey.from_pem(public_pem(self._worker_key)),),
        )
        self.callers = None if callers is None else _with_worker(callers, worker)
        if self.callers is not None:
            register_gate(task_queue, self.callers)

    def activities(self) -> list[Callable[..., Any]]:
        return [self.resolve_policy, self.run_action, self.open_linked_case, self.check_caller]

    @activity.defn(name="check_caller")
    def check_caller(self, check: CallerCheck) -> CallerVerdict:
        """Whether a signalled event's token admits it (its verdict is recorded: replay is deterministic)."""
        if self.callers is None:
            verdict = no_gate()
        else:
            verdict = self.callers.admit(
                check.token,
                case_id=check.case_id,
                event=check.name,
                data=check.data,
                role=check.role,
                now=check.at,
                seen_jtis=set(check.seen_jtis),
            )
        if not verdict.admitted:
            log.warning("caller refused", case_id=check.case_id, event_name=check.name, code=verdict.code)
        return CallerVerdict(**verdict.__dict__)

    def _opening_refusal(self, request: ResolveRequest) -> str | None:
        if request.case_id is None:  # a history from before callers were checked: nothing to check
            return None
        if self.callers is None:
            return f"{CALLER_REFUSED}: {no_gate().reason}"
        verdict = self.callers.admit(
            request.token,
            case_id=request.case_id,
            event=opening_name(request.case_type),
            data=request.data,
            role=claimed_role(request.token),
            now=request.checked_at or request.opened_at,
        )
        return None if verdict.admitted else f"{CALLER_REFUSED}: {verdict.reason}"

    def _completed(self, request: ActionRequest) -> bool:
        return request.reports is None or not self.deferred_reports(request)

    @activity.defn(name="resolve_policy")
    def resolve_policy(self, request: ResolveRequest) -> ResolvedPayload:
        """Select the policy for a new case; its content and hash go into the workflow history."""
        with structlog.contextvars.bound_contextvars(workflow_id=activity.info().workflow_id):
            refusal = (
                case_data_problem(request.data, self.limits)
                or self._opening_refusal(request)
                or start_refusal(request, self.backdating)
            )
            if refusal is not None:
                log.warning("case refused", case_type=request.case_type, reason=refusal)
                raise ApplicationError(refusal, type=CASE_REFUSED, non_retryable=True)
            try:
                resolved = self.source.resolve(request.case_type, request.data, request.opened_at)
            except SelectionError as exc:  # str(exc) lists the details: which field, why
                log.info("case refused", case_type=request.case_type, reason=str(exc))
                raise ApplicationError(str(exc), type=CASE_REFUSED, non_retryable=True) from None
            log.info("policy resolved", case_type=request.case_type, policy=resolved.id, version=resolved.short_version)
        return ResolvedPayload(
            policy_id=resolved.id,
            policy_version=resolved.version,
            policy_content=resolved.content(),
            limits=self.limits,
            ledger=self.ledger,
        )

    @activity.defn(name="run_action")
    def run_action(self, request: ActionRequest) -> ActionOutcome:
        """Hand one effect to the sink under its idempotency key (notifications come rendered)."""
        with structlog.contextvars.bound_contextvars(case_id=request.case_id, workflow_id=request.workflow_id):
            _refuse_foreign(request)
            completed = self._completed(request)
            # A deferred report comes back from outside: with a one-time key, written with the effect.
            report_key = None if completed else secrets.token_urlsafe(24)
            delivered = self.sink.deliver(request, report_key)
            if report_key is not None:
                report_key = self.sink.outbox.report_key_of(request.key)  # the first attempt's
            log.info("effect", type=request.type, key=request.key, delivered=delivered, attempt=activity.info().attempt)
        return ActionOutcome(
            key=request.key,
            delivered=delivered,
            detail="" if delivered else "already delivered",
            completed=completed,
            report_digest=None if report_key is None else report_digest(report_key),
        )

    def _record_done(self, request: ActionRequest) -> bool:
        box = self.sink.outbox  # SQLite blocks: called in a thread, off the event loop
        new = box.record(request.key, request.case_id, request.case_type, request.type, request.params)
        box.mark_delivered(request.key)
        return new

    def sign_as_worker(self, opening: OpenRequest, *, now: dt.datetime, jti: str) -> str:
        """A token for `opening` signed by the worker itself (WORKER_PRINCIPAL, role `system`): the
        cases the worker opens on its own, linked cases and the risk watch's merchant reviews."""
        return mint(
            WORKER_PRINCIPAL,
            self._worker_key,
            case_id=opening.case_id,
            event=opening_name(opening.case_type),
            data=opening.data,
            role="system",
            now=now,
            ttl=MAX_LIFETIME,
            jti=jti,
        )

    @activity.defn(name="open_linked_case")
    async def open_linked_case(self, request: ActionRequest) -> ActionOutcome:
        """Start the linked case (a repair converted to a return); a retry finds it already started.

        Async because it needs the client; it runs on the worker's event loop, not the thread pool.
        """
        params = request.params
        missing = [k for k in ("case_id", "case_type") if not params.get(k)]
        if missing:
            raise ApplicationError(
                f"open_case action {request.key} lacks {', '.join(missing)}", type="InvalidAction", non_retryable=True
            )
        case_id = str(params["case_id"])
        bad_id = case_id_problem(case_id, linked=True)
        if bad_id is not None:  # a link of a link of a long id (workflows.bounds)
            raise ApplicationError(
                f"open_case action {request.key} cannot open its linked case: {bad_id}",
                type="InvalidAction",
                non_retryable=True,
            )
        linked_id = workflow_id_for(case_id)
        # The opening names its parent and the action that opened it: what a verified attach compares.
        opening = OpenRequest(
            case_id=case_id,
            case_type=str(params["case_type"]),
            data=dict(params.get("data") or {}),
            links={"linked_to": request.case_id, "opened_by": request.key},
        )
        # Signed by the worker itself (why_not_ours compares openings without their tokens).
        opening.token = self.sign_as_worker(opening, now=activity.info().scheduled_time, jti="linked:" + request.key)
        start = CaseStart(open=opening)
        with structlog.contextvars.bound_contextvars(case_id=request.case_id, workflow_id=request.workflow_id):
            _refuse_foreign(request)
            _refuse_foreign_link(request, case_id, params.get("linked_to"))
            client = self.client()
            try:
                handle: WorkflowHandle[Any, Any] = await client.start_workflow(
                    WORKFLOW_TYPE,
                    start,
                    id=linked_id,
                    task_queue=self.task_queue,
                    # Running: attach to it; closed: refuse. Either way a retry does not open a second case.
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                )
                log.info("linked case opened", linked_case=case_id, run_id=handle.result_run_id)
            except WorkflowAlreadyStartedError:
                log.info("linked case already open", linked_case=case_id)
            # Started now, or found running or closed: attach only to the case this action opened.
            # An action scheduled before this release, retried after it, may have opened the case with
            # the links of then ({"linked_to": parent}); the time check is what keeps squatters out.
            earlier = CaseStart(open=opening.model_copy(update={"links": {"linked_to": request.case_id}}))
            scheduled = activity.info().scheduled_time
            taken = await why_not_ours(client, linked_id, [start, earlier], self.task_queue, scheduled)
            if taken is not None:
                reason = f"linked case {case_id} {taken}: not attached (someone else holds its id)"
                log.error("linked case refused", linked_case=case_id, reason=reason)
                raise ApplicationError(reason, type=LINKED_CASE_TAKEN, non_retryable=True)
            # Recorded after the start, so the outbox never lists a case that was not opened.
            new = await asyncio.to_thread(self._record_done, request)
        return ActionOutcome(key=request.key, delivered=new, detail=linked_id, completed=self._completed(request))


# --- an action belongs to the case that asks for it (README "Security model") ---------------------


WORKER_PRINCIPAL = "aftersales-worker"  # the worker, opening linked cases


def _with_worker(gate: CallerGate, worker: Principal) -> CallerGate:
    """The gate with the worker's own principal beside the grants file's."""
    files = gate.grants

    def grants() -> Grants:
        current = files()
        return Grants({**current.principals, worker.name: worker}, current.source, current.digest)

    return CallerGate(gate.mode, grants)


def _refuse_foreign(request: ActionRequest) -> None:
    """Refuse (non-retryable, before any effect) an action that is not its own workflow's case's.

    The workflow that scheduled the activity is known to Temporal, not taken from the request: it
    must be the case's own (`case-<case_id>`), and the key the case's (`<case_id>/<seq>/<type>`), so
    no start or state can hand one case's effect, or its idempotency key, to another.
    """
    scheduled_by = activity.info().workflow_id
    reason = None
    if scheduled_by != workflow_id_for(request.case_id) or request.workflow_id != scheduled_by:
        reason = f"action {request.key} names case {request.case_id}, but workflow {scheduled_by} asked for it"
    else:
        seq, _, action_type = request.key.removeprefix(f"{request.case_id}/").partition("/")
        if not request.key.startswith(f"{request.case_id}/") or not seq.isdigit() or action_type != request.type:
            reason = (
                f"action key {request.key} does not belong to case {request.case_id}: its keys are "
                f"{request.case_id}/<seq>/{request.type}"
            )
    if reason is not None:
        log.error("action refused", key=request.key, reason=reason)
        raise ApplicationError(reason, type="InvalidAction", non_retryable=True)


def _refuse_foreign_link(request: ActionRequest, case_id: str, linked_to: Any) -> None:
    """An open_case action opens a case linked to its own case, under an id derived from it."""
    reason = None
    if linked_to is not None and linked_to != request.case_id:
        reason = f"open_case action {request.key} links to case {linked_to}, not to its own case {request.case_id}"
    elif not case_id.startswith(f"{request.case_id}-"):
        reason = f"open_case action {request.key} opens case {case_id}, whose id is not derived from {request.case_id}"
    if reason is not None:
        log.error("action refused", key=request.key, reason=reason)
        raise ApplicationError(reason, type="InvalidAction", non_retryable=True)
