"""`CaseClient`: how backend systems open cases and report events.

Every operation maps to the stable contract in `workflows/contract.py`: the workflow type
`AfterSalesCase`, workflow id `case-<case_id>`, the `open` update sent with the start, the
`submit_event` update, the `event` signal, and the `status` and `timeline` queries. Opening is
idempotent: the same case id with the same data returns the existing case; with different data it is
refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from dataclasses import dataclass
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from workflows.contract import (
    CASE_EXISTS,
    DEFAULT_TASK_QUEUE,
    QUERY_OPENING,
    QUERY_STATUS,
    QUERY_TIMELINE,
    SIGNAL_EVENT,
    STILL_OPENING,
    UPDATE_OPEN,
    UPDATE_SUBMIT_EVENT,
    WORKFLOW_TYPE,
    CaseStart,
    CaseStatus,
    EventRequest,
    OpenRequest,
    Timeline,
    same_opening,
    workflow_id_for,
)

OPENING_PATIENCE = 10.0  # seconds an event is retried while the case is still opening


class CaseError(Exception):
    """A request about a case that cannot be carried out; the message says why."""


class CaseRefused(CaseError):
    """The case could not be opened (unknown case type, data that does not fit the policy)."""


class CaseConflict(CaseError):
    """A case with this id exists with other data."""


class EventRefused(CaseError):
    """The case refused the event (wrong state, role or data); the case did not change."""


class CaseNotFound(CaseError):
    pass


class NoAnswerYet(CaseError):
    """The server or the worker did not answer in time; send the same event again with the same key."""


@dataclass(frozen=True)
class CaseSummary:
    case_id: str
    workflow_id: str
    status: str
    case_type: str | None
    state: str | None
    merchant_id: str | None
    priority: str | None
    sla_breached: bool | None
    escalation_level: int | None
    closed: bool | None
    policy_version: str | None
    started: dt.datetime | None


def _conflict(case_id: str) -> CaseConflict:
    return CaseConflict(f"case {case_id} already exists with other data; use another case id")


class CaseClient:
    def __init__(self, client: Client, task_queue: str = DEFAULT_TASK_QUEUE, *, list_by_state: bool = True) -> None:
        self.client = client
        self.task_queue = task_queue
        self.list_by_state = list_by_state

    @classmethod
    async def connect(cls, settings: Any = None) -> CaseClient:
        from activities.config import Settings, connect_client

        settings = settings or Settings.from_env()
        client = await connect_client(settings, pydantic_data_converter)
        return cls(client, settings.task_queue, list_by_state=settings.list_by_state)

    def handle(self, case_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(workflow_id_for(case_id))

    async def open(
        self,
        case_type: str,
        case_id: str,
        data: dict[str, Any],
        opened_at: dt.datetime | None = None,
        *,
        wait: float = 30.0,
        clock_offset_seconds: float = 0.0,
    ) -> CaseStatus:
        """Open a case (idempotent) and return its first status, in one round trip.

        The start carries the `open` update (update-with-start): a new case answers once its policy
        is pinned; an existing one answers at once, or refuses when its data differs.
        """
        request = OpenRequest(case_id=case_id, case_type=case_type, data=data, opened_at=opened_at)
        start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
            WORKFLOW_TYPE,
            CaseStart(open=request, clock_offset_seconds=clock_offset_seconds, list_by_state=self.list_by_state),
            id=workflow_id_for(case_id),
            task_queue=self.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # A case whose opening failed (bad data) may be opened again with corrected data.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
        try:
            async with asyncio.timeout(wait):
                status: CaseStatus = await self.client.execute_update_with_start_workflow(
                    UPDATE_OPEN, request, start_workflow_operation=start, result_type=CaseStatus
                )
                return status
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            message = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
            if CASE_EXISTS in message:
                raise _conflict(case_id) from None
            raise CaseRefused(message) from None
        except (WorkflowAlreadyStartedError, RPCError) as exc:
            # The operation holds the failed start's outcome too; read it, or it is logged as lost.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(start.workflow_handle(), timeout=1)
            # A case that ran to its end: the reuse policy keeps its id taken.
            if isinstance(exc, RPCError) and exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise
            return await self._closed_case(case_id, request)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            raise CaseError(f"case {case_id} did not open within {wait:.0f}s: is a worker running?") from None

    async def _closed_case(self, case_id: str, request: OpenRequest) -> CaseStatus:
        """A case that already ran to its end keeps its id: the same opening gets its last status."""
        try:
            existing: OpenRequest | None = await self.handle(case_id).query(QUERY_OPENING, result_type=OpenRequest)
        except (WorkflowQueryFailedError, RPCError):
            existing = None
        if existing is not None and not same_opening(existing, request):
            raise _conflict(case_id)
        return await self.status(case_id)

    async def event(
        self,
        case_id: str,
        name: str,
        role: str,
        actor_id: str = "",
        data: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> CaseStatus:
        """Report an event and wait for the case's answer; raises EventRefused with the reason.

        A case that is still opening refuses events for a moment; they are sent again for up to
        `OPENING_PATIENCE` seconds before the refusal reaches the caller.
        """
        request = EventRequest(name=name, role=role, actor_id=actor_id, data=data or {}, key=key)
        deadline = asyncio.get_running_loop().time() + OPENING_PATIENCE
        delay = 0.05
        while True:
            try:
                return await self._submit(case_id, request)
            except EventRefused as exc:
                if STILL_OPENING not in str(exc) or asyncio.get_running_loop().time() > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _submit(self, case_id: str, request: EventRequest) -> CaseStatus:
        name = request.name
        try:
            result: CaseStatus = await self.handle(case_id).execute_update(
                UPDATE_SUBMIT_EVENT, request, result_type=CaseStatus
            )
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(cause or exc)
            raise EventRefused(reason) from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError from None  # our caller cancelled: not a lost answer
            raise NoAnswerYet(
                f"case {case_id}: no answer to {name} yet (server or worker busy or restarting); "
                "send it again with the same key"
            ) from None
        except RPCError as exc:
            raise await self._why_unreachable(case_id, exc) from None
        return result

    async def _why_unreachable(self, case_id: str, exc: RPCError) -> CaseError:
        try:
            desc = await self.handle(case_id).describe()
        except RPCError:
            return CaseNotFound(f"no case {case_id}")
        if desc.status != WorkflowExecutionStatus.RUNNING:
            return EventRefused(f"the case is closed (workflow {desc.status.name.lower() if desc.status else ''})")
        return CaseError(f"case {case_id}: {exc.message}")

    async def signal(
        self,
        case_id: str,
        name: str,
        role: str,
        actor_id: str = "",
        data: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> None:
        """Fire-and-forget: a refusal is recorded in the case's timeline."""
        request = EventRequest(name=name, role=role, actor_id=actor_id, data=data or {}, key=key)
        await self.handle(case_id).signal(SIGNAL_EVENT, request)

    async def status(self, case_id: str) -> CaseStatus:
        try:
            result: CaseStatus = await self.handle(case_id).query(QUERY_STATUS, result_type=CaseStatus)
        except WorkflowQueryFailedError as exc:
            raise CaseError(f"case {case_id} is not open yet: {exc}") from None
        except RPCError as exc:
            raise CaseNotFound(f"case {case_id}: {exc.message}") from None
        return result

    async def timeline(self, case_id: str) -> Timeline:
        try:
            result: Timeline = await self.handle(case_id).query(QUERY_TIMELINE, result_type=Timeline)
        except WorkflowQueryFailedError as exc:
            raise CaseError(f"case {case_id} is not open yet: {exc}") from None
        except RPCError as exc:
            raise CaseNotFound(f"case {case_id}: {exc.message}") from None
        return result

    async def list(self, query: str = "", limit: int = 100) -> list[CaseSummary]:
        """Cases by visibility query (the CLI builds it from --state, --type, --merchant, --breached)."""
        base = f"WorkflowType = '{WORKFLOW_TYPE}'"
        full = f"{base} AND ({query})" if query else base
        out: list[CaseSummary] = []
        async for wf in self.client.list_workflows(full, limit=limit):
            sa = wf.typed_search_attributes
            from workflows import search_attributes as keys

            out.append(
                CaseSummary(
                    case_id=wf.id.removeprefix("case-"),
                    workflow_id=wf.id,
                    status=wf.status.name if wf.status else "",
                    case_type=sa.get(keys.CASE_TYPE),
                    state=sa.get(keys.CASE_STATE),
                    merchant_id=sa.get(keys.MERCHANT_ID),
                    priority=sa.get(keys.PRIORITY),
                    sla_breached=sa.get(keys.SLA_BREACHED),
                    escalation_level=sa.get(keys.ESCALATION_LEVEL),
                    closed=sa.get(keys.CASE_CLOSED),
                    policy_version=sa.get(keys.POLICY_VERSION),
                    started=wf.start_time,
                )
            )
            if len(out) >= limit:
                break
        return out


def list_query(
    state: str | None = None,
    case_type: str | None = None,
    merchant: str | None = None,
    breached: bool | None = None,
    closed: bool | None = None,
) -> str:
    """A visibility query from list filters (values are quoted, so an id cannot change the query)."""

    def q(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    parts: list[str] = []
    if state:
        parts.append(f"CaseState = {q(state)}")
    if case_type:
        parts.append(f"CaseType = {q(case_type)}")
    if merchant:
        parts.append(f"MerchantId = {q(merchant)}")
    if breached is not None:
        parts.append(f"SlaBreached = {'true' if breached else 'false'}")
    if closed is not None:
        parts.append(f"CaseClosed = {'true' if closed else 'false'}")
    return " AND ".join(parts)
