"""The activities the case workflow calls: resolve a policy, run an action, open a linked case.

Every effect carries the engine's idempotency key ("<case_id>/<seq>/<type>"). The outbox row is
written with INSERT OR IGNORE before anything leaves the building, so a worker killed at any moment
and retried by Temporal never produces a second effect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import structlog
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from activities.outbox import Outbox
from activities.policy_source import PolicySource
from activities.webhook import WebhookSink
from policy_engine.selection import SelectionError
from workflows.contract import (
    WORKFLOW_TYPE,
    ActionOutcome,
    ActionRequest,
    CaseStart,
    OpenRequest,
    ResolvedPayload,
    ResolveRequest,
    workflow_id_for,
)

log = structlog.get_logger("aftersales.activities")


class Sink(Protocol):
    def deliver(self, request: ActionRequest) -> bool: ...


class OutboxSink:
    """Effects land in the SQLite outbox, where downstream systems (or an operator) pick them up."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def deliver(self, request: ActionRequest) -> bool:
        return self.outbox.record(request.key, request.case_id, request.case_type, request.type, request.params)


class WebhookDeliverySink:
    """Outbox row first (the dedupe), then the signed POST; a delivered row is never sent again."""

    def __init__(self, outbox: Outbox, webhook: WebhookSink) -> None:
        self.outbox = outbox
        self.webhook = webhook

    def deliver(self, request: ActionRequest) -> bool:
        new = self.outbox.record(request.key, request.case_id, request.case_type, request.type, request.params)
        if self.outbox.is_delivered(request.key):
            return False
        self.webhook.deliver(_payload(request), request.key)
        self.outbox.mark_delivered(request.key)
        return new


def _payload(request: ActionRequest) -> dict[str, Any]:
    return {
        "key": request.key,
        "case_id": request.case_id,
        "case_type": request.case_type,
        "workflow_id": request.workflow_id,
        "policy_version": request.policy_version,
        "type": request.type,
        "params": request.params,
    }


class CaseActivities:
    def __init__(
        self,
        source: PolicySource,
        sink: Sink,
        client: Callable[[], Client],
        *,
        task_queue: str = "aftersales",
        deferred_reports: Callable[[ActionRequest], bool] | None = None,
    ) -> None:
        self.source = source
        self.sink = sink
        self.client = client
        self.task_queue = task_queue
        # Which results come back later from outside (a payment callback sends refund_completed)
        # instead of being reported when the effect is handed over.
        self.deferred_reports = deferred_reports or (lambda _request: False)

    def activities(self) -> list[Callable[..., Any]]:
        return [self.resolve_policy, self.run_action, self.open_linked_case]

    @activity.defn(name="resolve_policy")
    def resolve_policy(self, request: ResolveRequest) -> ResolvedPayload:
        """Select the policy for a new case; its content and hash go into the workflow history."""
        try:
            resolved = self.source.resolve(request.case_type, request.data, request.opened_at)
        except SelectionError as exc:
            details = "; ".join(getattr(exc, "details", []) or [])
            raise ApplicationError(
                f"{exc}{': ' + details if details else ''}", type="CaseRefused", non_retryable=True
            ) from None
        return ResolvedPayload(
            policy_id=resolved.id, policy_version=resolved.version, policy_content=resolved.content()
        )

    @activity.defn(name="run_action")
    def run_action(self, request: ActionRequest) -> ActionOutcome:
        with structlog.contextvars.bound_contextvars(case_id=request.case_id, workflow_id=request.workflow_id):
            delivered = self.sink.deliver(request)
            log.info("effect", type=request.type, key=request.key, new=delivered, attempt=activity.info().attempt)
        completed = request.reports is None or not self.deferred_reports(request)
        return ActionOutcome(key=request.key, delivered=delivered, completed=completed)

    @activity.defn(name="open_linked_case")
    async def open_linked_case(self, request: ActionRequest) -> ActionOutcome:
        """Start the linked case (a repair converted to a return); a retry finds it already started."""
        params = request.params
        case_id = str(params["case_id"])
        opening = OpenRequest(
            case_id=case_id,
            case_type=str(params["case_type"]),
            data=dict(params.get("data") or {}),
            links={"linked_to": str(params.get("linked_to") or request.case_id)},
        )
        with structlog.contextvars.bound_contextvars(case_id=request.case_id, workflow_id=request.workflow_id):
            new = self.sink.deliver(request)
            try:
                handle: WorkflowHandle[Any, Any] = await self.client().start_workflow(
                    WORKFLOW_TYPE,
                    CaseStart(open=opening),
                    id=workflow_id_for(case_id),
                    task_queue=self.task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                )
                log.info("linked case opened", linked_case=case_id, run_id=handle.result_run_id)
            except WorkflowAlreadyStartedError:
                log.info("linked case already open", linked_case=case_id)
        return ActionOutcome(key=request.key, delivered=new, detail=workflow_id_for(case_id))
