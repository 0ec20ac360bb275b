"""`CaseClient`: how backend systems open cases and report events.

Every operation maps to the stable contract in `workflows/contract.py`: the workflow type
`AfterSalesCase`, workflow id `case-<case_id>`, the `open` update sent with the start, the
`submit_event` update, the `event` signal, and the `status` and `timeline` queries. Opening is
idempotent: the same case id with the same data returns the existing case; with different data it is
refused.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from workflows.bounds import case_data_problem, case_id_problem, event_data_problem, event_key_problem
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
    DataLimits,
    EventRequest,
    OpenRequest,
    Timeline,
    same_opening,
    workflow_id_for,
)

OPENING_PATIENCE = 10.0  # seconds an event is retried while the case is still opening
# How long `close` (and the exit hook) waits for the SDK's runtime threads to finish the last answer.
# Measured on the dev server (a status query per process, 300 processes each): without it 42 aborted
# (exit 134 or 139); closed with it, 0 (twice); left open, the exit hook alone, 0.
SETTLE_SECONDS = 0.05
_exit_hook_installed = False


def _settle_at_exit() -> None:
    """Before the interpreter starts to shut down, give the SDK's threads a moment (once per process).

    atexit callbacks run before finalization begins, so a thread still finishing an answer then
    completes normally instead of aborting the process.
    """
    global _exit_hook_installed
    if not _exit_hook_installed:
        atexit.register(time.sleep, SETTLE_SECONDS)
        _exit_hook_installed = True


class CaseError(Exception):
    """A request about a case that cannot be carried out; the message says why."""


class CaseRefused(CaseError):
    """The case could not be opened (unknown case type, data that does not fit the policy)."""


class InvalidRequest(CaseError):
    """The request breaks a bound every case has (its id, the size or depth of its data, an event's
    key: `workflows.bounds`); nothing was sent."""


class CaseConflict(CaseError):
    """A case with this id exists with other data."""


class EventRefused(CaseError):
    """The case refused the event (wrong state, role or data); the case did not change."""


class CaseNotFound(CaseError):
    """No case has this id."""


class CannotConnect(CaseError):
    """The Temporal server does not answer at the configured address."""


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


def _known_id_problem(case_id: str) -> str | None:
    """Why no case can have this id (a linked case's may be longer than one a caller opens), or None."""
    return case_id_problem(case_id, linked=True)


def _conflict(case_id: str) -> CaseConflict:
    return CaseConflict(f"case {case_id} already exists with other data; use another case id")


async def _settle(start: WithStartWorkflowOperation[Any, Any]) -> None:
    """Read the start operation's outcome after a failed or timed-out open.

    The operation holds it in a future of its own (a failed start, or the cancellation a timeout
    left there); unread, asyncio logs it as "Future exception was never retrieved" when it is
    collected, at some unrelated moment of the program.
    """
    with contextlib.suppress(Exception, asyncio.CancelledError):
        await asyncio.wait_for(start.workflow_handle(), timeout=1)


def _principal_from_env(settings: Any) -> tuple[str | None, Any]:
    import os
    from pathlib import Path

    from service.identity import KEYS_DIR, KeyProblem, load_private_key

    name = os.environ.get("AFTERSALES_AS", "").strip() or None
    if name is None:
        return None, None
    path = os.environ.get("AFTERSALES_KEY_FILE", "").strip() or str(Path(settings.home) / KEYS_DIR / f"{name}.pem")
    try:
        return name, load_private_key(Path(path))
    except KeyProblem as exc:
        raise CaseError(f"cannot sign as {name} (AFTERSALES_AS): {exc}") from None


class CaseClient:
    """A connection to the cases; close it (`await cases.close()`, or `async with`) when done.

    Closing matters in short-lived programs: the Temporal SDK answers calls from threads of its own
    runtime, which may still be finishing the last answer after it has reached us. An interpreter
    that exits in that moment aborts ("PyGILState_Release ... must be current"). `close` lets them
    finish first; `settle_at_exit` does the same at exit for clients nobody closed.
    """

    def __init__(
        self,
        client: Client,
        task_queue: str = DEFAULT_TASK_QUEUE,
        *,
        list_by_state: bool = True,
        principal: str | None = None,
        private_key: Any = None,
        open_role: str = "customer",
        clock: Callable[[], Awaitable[dt.datetime]] | None = None,
        limits: DataLimits | None = None,
    ) -> None:
        """`principal` and `private_key` (an Ed25519 key, its PEM, or the path of its file): every open
        and event is signed with a fresh token (docs/security.md); `open_role` is the role an opening
        is signed in. `limits`: the data caps checked before sending (default: the settings' defaults;
        `connect` reads AFTERSALES_MAX_*); the worker enforces its own whatever a client checks."""
        self._client: Client | None = client
        self.principal = principal
        self._key: Any = None
        if principal is not None:
            from pathlib import Path

            from service.identity import load_private_key

            self._key = load_private_key(private_key) if isinstance(private_key, Path) else private_key
            if self._key is None:
                raise CaseError(f"principal {principal} needs its private key")
        self.open_role = open_role
        self.clock = clock  # the time tokens are issued at (default: this machine's; tests: the test server's)
        self.task_queue = task_queue
        self.list_by_state = list_by_state
        self.limits = limits or DataLimits()
        _settle_at_exit()

    @property
    def client(self) -> Client:
        if self._client is None:
            raise CaseError("this CaseClient is closed; connect again")
        return self._client

    @classmethod
    async def connect(
        cls, settings: Any = None, *, principal: str | None = None, private_key: Any = None
    ) -> CaseClient:
        """Connect with the settings (default: from the environment, see README "Configuration")."""
        from service import Settings, connect_client

        settings = settings or Settings.from_env()
        if principal is None:  # a backend's identity from its environment (AFTERSALES_AS, AFTERSALES_KEY_FILE)
            principal, private_key = _principal_from_env(settings)
        try:
            client = await connect_client(settings)  # payloads encrypted with the settings' codec keys
        except ValueError as exc:  # the codec key file (or a TLS file) cannot be used: why, and the fix
            raise CaseError(str(exc)) from None
        except RuntimeError as exc:  # the SDK's connection failure, with gRPC internals in its text
            raise CannotConnect(
                f"cannot reach Temporal at {settings.address} (namespace {settings.namespace}): is the "
                "server running? Start one with `make run`, or set TEMPORAL_ADDRESS to where it runs"
            ) from exc
        return cls(
            client,
            settings.task_queue,
            list_by_state=settings.list_by_state,
            principal=principal,
            private_key=private_key,
            limits=settings.data_limits,
        )

    async def close(self) -> None:
        """Drop the connection and let the SDK's threads finish what they were answering."""
        if self._client is None:
            return
        self._client = None
        await asyncio.sleep(SETTLE_SECONDS)

    async def __aenter__(self) -> CaseClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _event_request(
        self, case_id: str, name: str, role: str, actor_id: str, data: dict[str, Any] | None, key: str | None
    ) -> EventRequest:
        """An event as the case receives it, signed for this principal (update and signal alike).

        Raises InvalidRequest, before anything is sent, for an event over the bounds of every case.
        """
        unbounded = (
            _known_id_problem(case_id)
            or event_key_problem(key)
            or event_data_problem(to_jsonable_python(data or {}), self.limits)
        )
        if unbounded is not None:
            raise InvalidRequest(unbounded)
        token = await self.sign(case_id, name, role, data)
        return EventRequest(name=name, role=role, actor_id=actor_id, data=data or {}, key=key, token=token)

    async def sign(self, case_id: str, event: str, role: str, data: dict[str, Any] | None) -> str | None:
        """A token for one call (None without a principal: the worker then refuses it unless callers are open)."""
        if self.principal is None:
            return None
        from service.identity import mint

        return mint(
            self.principal,
            self._key,
            case_id=case_id,
            event=event,
            data=to_jsonable_python(data or {}),  # as the case receives it (times as ISO text)
            role=role,
            now=dt.datetime.now(dt.UTC) if self.clock is None else await self.clock(),
        )

    def handle(self, case_id: str) -> WorkflowHandle[Any, Any]:
        """The case's workflow; InvalidRequest for an id no case can have."""
        bad_id = _known_id_problem(case_id)
        if bad_id is not None:
            raise InvalidRequest(bad_id)
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
        role: str | None = None,
    ) -> CaseStatus:
        """Open a case (idempotent) and return its first status, in one round trip.

        The start carries the `open` update (update-with-start): a new case answers once its policy
        is pinned; an existing one answers at once, or refuses when its data differs. An id or data
        over the bounds of every case raises InvalidRequest before anything is sent.
        """
        unbounded = case_id_problem(case_id) or case_data_problem(to_jsonable_python(data), self.limits)
        if unbounded is not None:
            raise InvalidRequest(unbounded)
        token = await self.sign(case_id, f"open:{case_type}", role or self.open_role, data)
        request = OpenRequest(case_id=case_id, case_type=case_type, data=data, opened_at=opened_at, token=token)
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
            await _settle(start)
            # A case that ran to its end: the reuse policy keeps its id taken.
            if isinstance(exc, RPCError) and exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise
            return await self._closed_case(case_id, request)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            await _settle(start)
            raise await self._why_not_opened(case_id, wait) from None

    async def _why_not_opened(self, case_id: str, wait: float) -> CaseError:
        """An opening that got no answer in time: refused (its run failed, with the reason), or stuck."""
        handle = self.handle(case_id)
        try:
            desc = await handle.describe()
        except RPCError:
            return CaseError(f"case {case_id} did not open within {wait:.0f}s: is a worker running?")
        if desc.status == WorkflowExecutionStatus.FAILED:
            reason = await self._failure_reason(handle)
            return CaseRefused(f"case {case_id} was refused when it opened: {reason}")
        pending = desc.raw_description.pending_workflow_task
        if pending.attempt > 1:  # the worker took the case and fails on it: its log has the error
            return CaseError(
                f"case {case_id} did not open within {wait:.0f}s: the worker fails on it (attempt "
                f"{pending.attempt}); its log says why"
            )
        return CaseError(f"case {case_id} did not open within {wait:.0f}s: is a worker running?")

    async def _closed_case(self, case_id: str, request: OpenRequest) -> CaseStatus:
        """A case that already ran to its end keeps its id: the same opening gets its last status."""
        try:
            existing: OpenRequest | None = await self.handle(case_id).query(QUERY_OPENING, result_type=OpenRequest)
        except (WorkflowQueryFailedError, RPCError):
            existing = None
        if existing is not None and not same_opening(existing, request):
            raise _conflict(case_id)
        status = await self.status(case_id)
        return status.model_copy(update={"duplicate": True})

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
        request = await self._event_request(case_id, name, role, actor_id, data, key)
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
        if desc.status == WorkflowExecutionStatus.FAILED:
            return CaseRefused(
                f"case {case_id} was refused when it opened: {await self._failure_reason(self.handle(case_id))}"
            )
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
        request = await self._event_request(case_id, name, role, actor_id, data, key)
        try:
            await self.handle(case_id).signal(SIGNAL_EVENT, request)
        except RPCError as exc:
            raise await self._why_unreachable(case_id, exc) from None

    async def status(self, case_id: str) -> CaseStatus:
        """The case as it stands: state, deadlines, SLA clocks, the events it accepts now."""
        try:
            result: CaseStatus = await self.handle(case_id).query(QUERY_STATUS, result_type=CaseStatus)
        except (WorkflowQueryFailedError, RPCError) as exc:
            raise await self._why_no_answer(case_id, exc) from None
        return result

    async def timeline(self, case_id: str) -> Timeline:
        """The case's audit trail."""
        try:
            result: Timeline = await self.handle(case_id).query(QUERY_TIMELINE, result_type=Timeline)
        except (WorkflowQueryFailedError, RPCError) as exc:
            raise await self._why_no_answer(case_id, exc) from None
        return result

    async def _why_no_answer(self, case_id: str, exc: Exception) -> CaseError:
        """A query failed: say what the case is (missing, refused at opening, still opening) in our terms."""
        handle = self.handle(case_id)
        try:
            desc = await handle.describe()
        except RPCError as rpc:
            if rpc.status == RPCStatusCode.NOT_FOUND:
                return CaseNotFound(f"no case {case_id}")
            return CaseError(f"case {case_id}: the server did not answer ({rpc.message})")
        if desc.status == WorkflowExecutionStatus.FAILED:
            reason = await self._failure_reason(handle)
            return CaseRefused(f"case {case_id} was refused when it opened: {reason}")
        if desc.status == WorkflowExecutionStatus.RUNNING and "not open yet" in str(exc):
            return CaseError(f"case {case_id} is still opening (its policy is being resolved); ask again in a moment")
        if desc.status == WorkflowExecutionStatus.RUNNING:
            return CaseError(f"case {case_id} did not answer (is a worker running on its task queue?): {exc}")
        status = desc.status.name.lower() if desc.status else "closed"
        return CaseError(f"case {case_id} cannot be read (its workflow was {status}): {exc}")

    @staticmethod
    async def _failure_reason(handle: WorkflowHandle[Any, Any]) -> str:
        try:
            await asyncio.wait_for(handle.result(follow_runs=False), timeout=5)
        except WorkflowFailureError as failed:
            cause = failed.cause
            while isinstance(cause, ActivityError) and cause.cause is not None:
                cause = cause.cause
            return cause.message if isinstance(cause, ApplicationError) else str(cause or failed)
        except Exception as other:  # the reason is a courtesy; the refusal stands without it
            return f"reason unavailable ({type(other).__name__})"
        return "reason unavailable"

    async def list(self, query: str = "", limit: int = 100, *, refused: bool = False) -> list[CaseSummary]:
        """Cases by visibility query (the CLI builds it from --state, --type, --merchant, --breached).

        One row per case id, its latest run. An opening the case refused (its data fit no policy)
        leaves a failed run with no case attributes; those are left out unless `refused` is set.
        """
        from workflows import search_attributes as keys

        base = f"WorkflowType = '{WORKFLOW_TYPE}'"
        full = f"{base} AND ({query})" if query else base
        out: list[CaseSummary] = []
        seen: set[str] = set()
        async for wf in self.client.list_workflows(full):
            if wf.id in seen:  # an earlier run of the same case id (newest runs come first)
                continue
            seen.add(wf.id)
            sa = wf.typed_search_attributes
            was_refused = wf.status == WorkflowExecutionStatus.FAILED and sa.get(keys.CASE_TYPE) is None
            if was_refused and not refused:
                continue
            out.append(
                CaseSummary(
                    case_id=wf.id.removeprefix("case-"),
                    workflow_id=wf.id,
                    status="REFUSED" if was_refused else (wf.status.name if wf.status else ""),
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
