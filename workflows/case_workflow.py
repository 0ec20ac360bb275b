"""`AfterSalesCase`: one durable workflow per case, driving the pure engine.

The workflow owns no business rule. It pins the policy (fetched by an activity, so the content and
its hash are in the history), feeds the engine events, updates and due timers, turns the engine's
action commands into activities, and keeps search attributes current. Timers live in the case
state; the workflow sleeps until the earliest one, so a case costs one durable timer at a time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import deque
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.case_activities import CaseActivities
    from activities.ledger_activities import FactsBatch, LedgerActivities
    from ledger.opening import opening_of, with_calendar
    from policy_engine.engine import Actor as EngineActor
    from policy_engine.engine import (
        CaseState,
        EventIn,
        OpenCase,
        OpenFailed,
        OpenRefused,
        RunAction,
        StepResult,
        TimerDue,
        accepted_events,
        check_event,
        fire_due,
        listing,
        open_case,
        pauses_in_working_days,
        report_event,
        step,
    )
    from policy_engine.language import ResolvedPolicy, pinned_policy
    from service.identity.admission import claimed_role, gate_for, no_gate, remember, unverified_claims
    from service.identity.tokens import canonical_json
    from service.identity.tokens import opening as opening_event
    from workflows.bounds import case_data_problem, case_id_problem, event_data_problem, event_key_problem
    from workflows.compaction import compacted
    from workflows.contract import (
        CALLER_REFUSED,
        CASE_EXISTS,
        CASE_REFUSED,
        JTI_MEMORY,
        PATCH_BOUNDED_SIGNALS,
        PATCH_CLOSE_ENDS_RUN,
        PATCH_COMPACT_CARRIED_STATE,
        PATCH_LEDGER_FACTS,
        PATCH_PLATFORM_REPORTS,
        PATCH_SIGNED_CALLERS,
        PATCH_STOP_ON_POLICY_ERROR,
        PATCH_WORKING_DAY_PAUSES,
        POLICY_FAILED,
        QUERY_IDLE,
        QUERY_OPENING,
        QUERY_STATUS,
        QUERY_TIMELINE,
        SIGNAL_EVENT,
        START_REFUSED,
        STILL_OPENING,
        UPDATE_OPEN,
        UPDATE_SUBMIT_EVENT,
        WORKFLOW_TYPE,
        ActionRequest,
        CallerCheck,
        CallerVerdict,
        CaseStart,
        CaseStatus,
        DataLimits,
        EventRequest,
        LedgerCursor,
        OpenRequest,
        PinnedCase,
        ResolveRequest,
        StartClaims,
        Timeline,
        same_opening,
        status_of,
    )
    from workflows.search_attributes import search_attribute_updates
    from workflows.trust import (
        backdating_note,
        forged_start,
        note_backdating,
        oversized_step,
        platform_only,
        refused_step,
        report_digest,
        reported_events,
        start_claims,
        with_failed_action,
    )

RESOLVE_TIMEOUT = dt.timedelta(seconds=30)
ACTION_TIMEOUT = dt.timedelta(seconds=30)
ACTION_RETRY = RetryPolicy(
    initial_interval=dt.timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=dt.timedelta(minutes=5),
    non_retryable_error_types=["PermanentDeliveryError", "InvalidAction"],
)
LEDGER_TIMEOUT = dt.timedelta(seconds=30)
# A ledger that is down delays its facts, never the case: retried until it is back.
LEDGER_RETRY = RetryPolicy(initial_interval=dt.timedelta(seconds=1), maximum_interval=dt.timedelta(minutes=1))
# A batch of facts stays far below Temporal's 2 MB payload limit, however large the entries (event
# data is capped per event, not per batch): the rest follows in the next batch.
FACTS_BATCH_BYTES = 256 * 1024


@workflow.defn(name=WORKFLOW_TYPE)
class AfterSalesCase:
    def __init__(self) -> None:
        self.policy: ResolvedPolicy | None = None
        self.state: CaseState | None = None
        self.opening: OpenRequest | None = None
        # Signalled events, with their request (its token is checked before the event is applied).
        self.inbox: deque[tuple[EventIn, EventRequest]] = deque()
        self.actions: deque[RunAction] = deque()
        self.timers_changed = False
        self.indexed: dict[str, Any] = {}
        self.offset = dt.timedelta(0)
        # History length of the workflow task in which the opening finished (see _validate_event).
        self.opened_in_task: int | None = None
        self.refusal: str | None = None  # why the case could not open, for the `open` update
        self.list_by_state = True  # see CaseStart.list_by_state
        self.open_answered = False  # an `open` update was answered (later ones report `duplicate`)
        self.actions_running = 0  # effects handed to an activity and not yet answered (see `idle`)
        # Whether a decision row or goto condition that errs stops the handler (PolicyFailed), as it
        # does since PATCH_STOP_ON_POLICY_ERROR, or is passed over, as it was before. Asked of
        # `workflow.patched` only when the policy first fails (the two differ only then), so a case
        # that never fails carries no patch marker; None until then.
        self.stop_on_policy_error: bool | None = None
        # Deferred reports the case waits for (see PinnedCase.awaiting_reports), and the events its
        # policy's actions report back by (only the platform sends those): see workflows.trust.
        self.awaiting_reports: dict[str, str] = {}
        self.reported: frozenset[str] | None = None
        # Ids of the tokens the case admitted lately -> their `exp`: a token is used once per case.
        self.seen_jtis: dict[str, int] = {}
        # The worker's caps on callers' data, pinned from `resolve_policy`'s result (workflows.bounds);
        # None for a case that opened before they were recorded (the defaults then apply).
        self.limits: DataLimits | None = None
        # Where the case's ledger writing stands (None: it writes none: the worker keeps no ledger,
        # or the case opened before PATCH_LEDGER_FACTS), and the batch on its way to `record_facts`.
        self.ledger: LedgerCursor | None = None
        self.facts_sending: asyncio.Task[None] | None = None

    def now(self) -> dt.datetime:
        """The case's clock: the server's, shifted for replayed scenarios (see CaseStart)."""
        return workflow.now() + self.offset

    # -- the run ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: CaseStart) -> CaseStatus:
        info = workflow.info()
        forged = forged_start(start, info.continued_run_id, info.cron_schedule)
        if forged is not None:
            await self._refuse_start(forged)
        if start.pinned is not None:
            self.stop_on_policy_error = start.pinned.stop_on_policy_error
            self.awaiting_reports = dict(start.pinned.awaiting_reports)
            self.seen_jtis = dict(start.pinned.seen_jtis)
            self.limits = start.pinned.limits
            self.ledger = start.pinned.ledger
        self.opening = start.open
        self.offset = dt.timedelta(seconds=start.clock_offset_seconds)
        self.list_by_state = start.list_by_state
        if start.pinned is not None:
            self.policy = pinned_policy(start.pinned.policy_version, start.pinned.policy_content)
            if self.ledger is not None:  # carried from a run whose opening may predate the calendar's
                self.ledger.opening = with_calendar(self.ledger.opening, self.policy)
            self.state = start.pinned.state
            self.actions.extend(start.pinned.pending_actions)
            self.open_answered = True  # a continued case: its opening was answered in an earlier run
        else:
            # A caller may start the workflow directly, bypassing CaseClient: the id is checked here. An
            # opening that claims links may use the linked form's length: still within every limit.
            bad_id = case_id_problem(start.open.case_id, linked=bool(start.open.links.get("linked_to")))
            if bad_id is not None:
                await self._refuse(bad_id)
                raise ApplicationError(bad_id, type=CASE_REFUSED, non_retryable=True)
            await self._open(start.open, start_claims(start, workflow.now()))
        self._index()
        while True:
            await self._drain()
            state = self._state()
            if state.closed and not self.inbox and not self.actions:
                break
            if self._should_continue_as_new(start):
                # The timeline is compacted below: its facts reach the ledger first.
                await workflow.wait_condition(lambda: workflow.all_handlers_finished() and self._facts_sent())
                if not self.inbox and not self.actions and self._facts_sent():
                    workflow.continue_as_new(self._carry(start))
            nxt = state.next_timer()
            timeout = None if nxt is None else (nxt[1] - self.now()).total_seconds()
            if timeout is not None and timeout <= 0:
                self._fire_due()
                continue
            self.timers_changed = False
            try:
                await workflow.wait_condition(
                    lambda: bool(self.inbox or self.actions or self.timers_changed),
                    timeout=None if timeout is None else dt.timedelta(seconds=timeout),
                )
            except TimeoutError:
                self._fire_due()
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and self._facts_sent())
        return self._status()

    async def _open(self, req: OpenRequest, claims: StartClaims | None = None) -> None:
        opened_at = req.opened_at or self.now()
        # The worker allows or refuses the claims (a backdated opening) when it pins the policy.
        # The caller's token too: the worker admits or refuses it with the claims (AFTERSALES_CALLERS).
        resolve = ResolveRequest(
            case_type=req.case_type,
            data=req.data,
            opened_at=opened_at,
            claims=claims,
            case_id=req.case_id,
            token=req.token,
            checked_at=workflow.now(),
        )
        try:
            payload = await workflow.execute_activity_method(
                CaseActivities.resolve_policy,
                resolve,
                start_to_close_timeout=RESOLVE_TIMEOUT,
                retry_policy=RetryPolicy(maximum_attempts=5, non_retryable_error_types=[CASE_REFUSED]),
            )
        except ActivityError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == CASE_REFUSED:
                await self._refuse(cause.message)
                raise
            # The worker failed on every attempt (a broken policy source): the caller hears so, and
            # the id stays free for another opening, instead of an update left without an answer.
            reason = "the worker could not resolve a policy for this case (every attempt failed; its log says why)"
            await self._refuse(reason)
            raise ApplicationError(reason, type=CASE_REFUSED, non_retryable=True) from None
        self.policy = pinned_policy(payload.policy_version, payload.policy_content)
        self.limits = payload.limits
        opening = OpenCase(case_id=req.case_id, case_type=req.case_type, data=req.data, at=opened_at, links=req.links)
        # How a paused working-day clock counts its time left, decided once for the case's life (its
        # state keeps it across continue-as-new). Asked only when the policy has such a clock (for
        # any other the two ways agree), so other cases carry no marker.
        working_day_pauses = pauses_in_working_days(self.policy.policy) and workflow.patched(PATCH_WORKING_DAY_PAUSES)
        try:
            try:
                result = open_case(self.policy, opening, working_day_pauses=working_day_pauses)
            except OpenFailed:
                if self._stops_on_policy_error():
                    raise
                result = open_case(
                    self.policy, opening, stop_on_policy_error=False, working_day_pauses=working_day_pauses
                )
        except OpenRefused as exc:
            await self._refuse(str(exc))
            raise ApplicationError(str(exc), type=CASE_REFUSED, non_retryable=True) from None
        except (ArithmeticError, ValueError, TypeError, RecursionError) as exc:
            # The engine could not compute the opening (a date or number out of its range: a delivery
            # on 9999-12-31 overflows the return window): refused with a reason, the id free for
            # corrected data, instead of a workflow task failing for ever.
            reason = (
                f"policy {payload.policy_id} could not open a case with this data ({type(exc).__name__}): "
                "check its numbers and sizes"
            )
            await self._refuse(reason)
            raise ApplicationError(reason, type=CASE_REFUSED, non_retryable=True) from None
        note = backdating_note(resolve)
        if note is not None:
            result = note_backdating(result, note)
        if payload.ledger and workflow.patched(PATCH_LEDGER_FACTS):
            self.ledger = LedgerCursor(opening=opening_of(self.policy, result.state))
        self._absorb(result)
        self.opened_in_task = workflow.info().get_current_history_length()
        workflow.logger.info(
            "case opened",
            extra={"case_id": req.case_id, "policy": payload.policy_id, "policy_version": payload.policy_version[:12]},
        )

    async def _refuse(self, reason: str) -> None:
        """The case cannot open: the `open` update answers with the reason before the run fails."""
        self.refusal = reason
        await workflow.wait_condition(workflow.all_handlers_finished)

    async def _refuse_start(self, reason: str) -> None:
        """A start no caller may make (see workflows.trust): the run fails at once, nothing runs."""
        workflow.logger.error("start refused", extra={"reason": reason})
        await self._refuse(reason)
        raise ApplicationError(reason, type=START_REFUSED, non_retryable=True)

    def _should_continue_as_new(self, start: CaseStart) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or info.get_current_history_length() >= start.history_limit

    def _carry(self, start: CaseStart) -> CaseStart:
        policy = self._policy()
        state = self._state()
        if workflow.patched(PATCH_COMPACT_CARRIED_STATE):
            state = compacted(state, workflow.info().run_id)
        return CaseStart(
            open=start.open,
            pinned=PinnedCase(
                policy_version=policy.version,
                policy_content=policy.content(),
                state=state,
                pending_actions=list(self.actions),
                stop_on_policy_error=self.stop_on_policy_error,
                awaiting_reports=dict(self.awaiting_reports),
                seen_jtis=dict(self.seen_jtis),
                limits=self.limits,
                ledger=self._carried_ledger(state),
            ),
            history_limit=start.history_limit,
            clock_offset_seconds=start.clock_offset_seconds,
            list_by_state=start.list_by_state,
        )

    def _carried_ledger(self, carried: CaseState) -> LedgerCursor | None:
        """The cursor the next run starts from: every entry was written (see `run`), and the entries
        between the `open` entry and the first carried one are left behind."""
        if self.ledger is None:
            return None
        return self.ledger.model_copy(update={"dropped": self.ledger.recorded - len(carried.timeline)})

    # -- the ledger ---------------------------------------------------------------------------------

    def _send_facts(self) -> None:
        """Send the timeline entries the ledger has not had, unless a batch is on its way.

        One batch at a time, in order: the ledger folds a clock's row forward from the row it holds
        (ledger/store.py), so a later batch written first would fold from a stale row. The case does
        not wait for it; the entries of the steps taken meanwhile go in the next batch.
        """
        if self.ledger is None or self.facts_sending is not None:
            return
        batch = self._unsent_batch(self.ledger)
        if batch is not None:
            self.facts_sending = asyncio.create_task(self._send_batch(self.ledger, batch))

    def _unsent_batch(self, cursor: LedgerCursor) -> FactsBatch | None:
        timeline = self._state().timeline
        first = cursor.recorded - cursor.dropped  # the position of the next entry in this run's timeline
        entries: list[dict[str, Any]] = []
        size = 0
        for entry in timeline[first:]:
            data = entry.model_dump(mode="json")
            size += len(canonical_json(data))
            if entries and size > FACTS_BATCH_BYTES:
                break
            entries.append(data)
        if not entries:
            return None
        return FactsBatch(opening=cursor.opening, first_seq=cursor.recorded, entries=entries)

    async def _send_batch(self, cursor: LedgerCursor, batch: FactsBatch) -> None:
        try:
            await workflow.execute_activity_method(
                LedgerActivities.record_facts,
                batch,
                start_to_close_timeout=LEDGER_TIMEOUT,
                retry_policy=LEDGER_RETRY,
            )
        except ActivityError as exc:  # refused for good (the worker's log says why): the case goes on
            workflow.logger.error(
                "facts not written to the ledger",
                extra={"case_id": cursor.opening.case_id, "first_seq": batch.first_seq, "error": str(exc.cause or exc)},
            )
        cursor.recorded = batch.first_seq + len(batch.entries)
        self.facts_sending = None
        self._send_facts()

    def _facts_sent(self) -> bool:
        """Every timeline entry is in the ledger (always, for a case that writes none)."""
        if self.ledger is None:
            return True
        return self.facts_sending is None and self.ledger.recorded - self.ledger.dropped >= len(self._state().timeline)

    # -- engine plumbing --------------------------------------------------------------------------

    def _policy(self) -> ResolvedPolicy:
        assert self.policy is not None, "the case is not open yet"
        return self.policy

    def _state(self) -> CaseState:
        assert self.state is not None, "the case is not open yet"
        return self.state

    def _step(self, state: CaseState, received: EventIn | TimerDue) -> StepResult:
        result = step(self._policy(), state, received, stop_on_policy_error=self.stop_on_policy_error is not False)
        if result.failed is not None and not self._stops_on_policy_error():
            result = step(self._policy(), state, received, stop_on_policy_error=False)
        return result

    def _stops_on_policy_error(self) -> bool:
        """Decided at the case's first policy failure: False when replaying a case begun before."""
        if self.stop_on_policy_error is None:
            self.stop_on_policy_error = workflow.patched(PATCH_STOP_ON_POLICY_ERROR)
        return self.stop_on_policy_error

    def _absorb(self, result: StepResult) -> CaseState:
        """Take a step's result in: queue its actions, note timer changes, update search attributes."""
        self.state = result.state
        if result.failed is not None:
            # Also in the timeline (an `error` entry); logged so that whoever watches the worker sees it.
            workflow.logger.error("the policy failed", extra={"case_id": result.state.case_id, "error": result.failed})
        for command in result.commands:
            if isinstance(command, RunAction):
                self.actions.append(command)
            elif command.kind in ("start_timer", "cancel_timer"):
                self.timers_changed = True
        # An update that closes a case with no timer left and no action to run changes nothing the run's
        # loop waits on: before the patch it waited for ever with the case closed. Asked only then.
        quiet = not (self.inbox or self.actions or self.timers_changed)
        if result.state.closed and quiet and workflow.patched(PATCH_CLOSE_ENDS_RUN):
            self.timers_changed = True  # wakes the loop, which sees the case closed and returns
        self._index()
        self._send_facts()
        return result.state

    def _projected(self) -> CaseState:
        """The case as it is now, with every timer due by now fired (without changing anything)."""
        return fire_due(
            self._policy(), self._state(), self.now(), stop_on_policy_error=self.stop_on_policy_error is not False
        )

    def _fire_due(self) -> None:
        fire_due(
            self._policy(), self._state(), self.now(), apply=self._step, absorb=lambda result, _: self._absorb(result)
        )

    def _event(self, req: EventRequest) -> EventIn:
        return EventIn(
            name=req.name, actor=EngineActor(role=req.role, id=req.actor_id), data=req.data, at=self.now(), key=req.key
        )

    async def _drain(self) -> None:
        while self.inbox or self.actions:
            if self.inbox:
                event, request = self.inbox.popleft()
                self._fire_due()
                # Over the case's bounds: refused before its caller is checked (the check would put
                # its data in the history once more), keeping its size and digest, never its data.
                unbounded = self._unbounded(request)
                if unbounded is not None and workflow.patched(PATCH_BOUNDED_SIGNALS):
                    self._absorb(oversized_step(self._state(), event, unbounded))
                    continue
                refusal = await self._signal_refusal(event, request)
                if refusal is not None:
                    self._absorb(refused_step(self._state(), event, refusal))
                    continue
                forged = self._platform_only(event.name, event.key)
                if forged is not None and self._refuses_forged_reports():
                    self._absorb(refused_step(self._state(), event, forged))
                    continue
                result = self._step(self._state(), event)
                self._absorb(result)
                self._took_report(event.name, event.key, result)
                continue
            command = self.actions.popleft()
            self.actions_running += 1
            try:
                await self._run_action(command)
            finally:
                self.actions_running -= 1

    def _limits(self) -> DataLimits:
        return self.limits or DataLimits()

    def _unbounded(self, request: EventRequest) -> str | None:
        """Why an event is over the case's bounds (its data's size or depth, its key), or None."""
        return event_key_problem(request.key) or event_data_problem(request.data, self._limits())

    async def _signal_refusal(self, event: EventIn, request: EventRequest) -> str | None:
        """Why a signalled event's caller is refused, or None. The `check_caller` activity decides
        (signals run again on replay; its recorded verdict does not change). A case begun before
        PATCH_SIGNED_CALLERS applied signals as sent."""
        if not workflow.patched(PATCH_SIGNED_CALLERS):
            return None
        state = self._state()
        self.actions_running += 1  # not idle while the caller is checked
        try:
            verdict = await self._check_caller(state.case_id, event, request)
        except ActivityError as exc:  # deny by default: a caller that could not be checked is refused
            verdict = CallerVerdict(
                admitted=False, code="unchecked", reason=f"the caller could not be checked: {exc.cause or exc}"
            )
        finally:
            self.actions_running -= 1
        if not verdict.admitted:
            workflow.logger.warning("caller refused", extra={"case_id": state.case_id, "code": verdict.code})
            return f"{CALLER_REFUSED}: {verdict.reason}"
        remember(self.seen_jtis, verdict.jti, verdict.expires, workflow.now(), JTI_MEMORY)
        return None

    async def _check_caller(self, case_id: str, event: EventIn, request: EventRequest) -> CallerVerdict:
        return await workflow.execute_activity_method(
            CaseActivities.check_caller,
            CallerCheck(
                case_id=case_id,
                name=request.name,
                role=request.role,
                data=request.data,
                token=request.token,
                at=event.at - self.offset,  # the server's time, as the validators use
                seen_jtis=sorted(self.seen_jtis),
            ),
            start_to_close_timeout=RESOLVE_TIMEOUT,
            retry_policy=RetryPolicy(maximum_attempts=5),
        )

    def _caller_refusal(self, *, case_id: str, event: str, data: Any, role: str, token: str | None) -> str | None:
        """An update's caller checked against the worker's grants in force (validators do not run on
        replay, so reading the worker's current grants here is deterministic where it matters)."""
        gate = gate_for(workflow.info().task_queue)
        verdict = (
            no_gate()
            if gate is None
            else gate.admit(
                token, case_id=case_id, event=event, data=data, role=role, now=workflow.now(), seen_jtis=self.seen_jtis
            )
        )
        return None if verdict.admitted else f"{CALLER_REFUSED}: {verdict.reason}"

    async def _run_action(self, command: RunAction) -> None:
        state = self._state()
        policy = self._policy()
        request = ActionRequest(
            case_id=state.case_id,
            case_type=state.case_type,
            workflow_id=workflow.info().workflow_id,
            policy_version=policy.version,
            key=command.key,
            type=command.type,
            params=command.params,
            reports=command.reports,
        )
        try:
            # By reference, so mypy checks the request against each activity's signature; the
            # activity names (and so the commands in the history) are the methods' `defn` names.
            if command.type == "open_case":
                outcome = await workflow.execute_activity_method(
                    CaseActivities.open_linked_case,
                    request,
                    start_to_close_timeout=ACTION_TIMEOUT,
                    retry_policy=ACTION_RETRY,
                )
            else:
                outcome = await workflow.execute_activity_method(
                    CaseActivities.run_action,
                    request,
                    start_to_close_timeout=ACTION_TIMEOUT,
                    retry_policy=ACTION_RETRY,
                )
        except ActivityError as exc:
            workflow.logger.error(
                "action failed for good",
                extra={"case_id": state.case_id, "key": command.key, "error": str(exc.cause or exc)},
            )
            # In the audit trail too (a linked case whose id someone else holds, an action refused).
            self.state = with_failed_action(self._state(), command, str(exc.cause or exc), self.now())
            self._send_facts()
            return
        if not outcome.completed and outcome.report_digest and command.reports:
            self.awaiting_reports[outcome.report_digest] = command.reports  # see _platform_only
        report = report_event(policy, command, self.now())
        if report is not None and outcome.completed:
            self._fire_due()
            self._absorb(self._step(self._state(), report))

    def _index(self) -> None:
        if self.state is None or self.policy is None:
            return
        values = search_attribute_updates(self.state, listing(self.policy, self.state))
        if not self.list_by_state and not self.state.closed:
            del values["CaseState"]  # written once, with the final state
        changed = {k: v for k, v in values.items() if self.indexed.get(k) != v}
        if changed:
            self.indexed.update(changed)
            workflow.upsert_search_attributes(search_attribute_pairs(changed))

    def _status(self, *, duplicate: bool = False) -> CaseStatus:
        state = self._state()
        return status_of(state, accepted_events(self._policy(), state), duplicate=duplicate)

    # -- messages from outside -----------------------------------------------------------------

    @workflow.update(name=UPDATE_OPEN)
    async def open(self, req: OpenRequest) -> CaseStatus:
        """The case's first status once it is open (sent with the start; again on a repeated open)."""
        await workflow.wait_condition(lambda: self.state is not None or self.refusal is not None)
        if self.refusal is not None:
            raise ApplicationError(self.refusal, type=CASE_REFUSED, non_retryable=True)
        # The update sent with the start is answered first; any later one opens nothing new. No
        # command depends on this, so replaying an earlier history is unaffected.
        repeated = self.open_answered
        self.open_answered = True
        return self._status(duplicate=repeated)

    @open.validator
    def _validate_open(self, req: OpenRequest) -> None:
        # With the start itself the run has not begun (`opening` unset): the request is the opening.
        if self.opening is None:
            return  # sent with the start: the worker checks its caller when it pins the policy (_open)
        linked = bool(req.links.get("linked_to"))
        bounded = case_id_problem(req.case_id, linked=linked) or case_data_problem(req.data, self._limits())
        if bounded is not None:
            raise ValueError(bounded)
        if not same_opening(self.opening, req):
            raise ValueError(f"{CASE_EXISTS}; use another case id")
        refusal = self._caller_refusal(
            case_id=req.case_id,
            event=opening_event(req.case_type),
            data=req.data,
            role=claimed_role(req.token),
            token=req.token,
        )
        if refusal is not None:
            raise ValueError(refusal)

    @workflow.update(name=UPDATE_SUBMIT_EVENT)
    async def submit_event(self, req: EventRequest) -> CaseStatus:
        # Admitted by the validator: its token's id is used up (before any await, so that the next
        # update's validator sees it).
        claims = unverified_claims(req.token)
        remember(self.seen_jtis, claims.get("jti"), claims.get("exp"), workflow.now(), JTI_MEMORY)
        await workflow.wait_condition(lambda: self.state is not None)
        self._fire_due()
        result = self._step(self._state(), self._event(req))
        self._absorb(result)
        self._took_report(req.name, req.key, result)
        if result.failed is not None:
            # The event was not applied: the sender hears why instead of an unchanged status.
            raise ApplicationError(f"the policy failed: {result.failed}", type=POLICY_FAILED, non_retryable=True)
        return self._status(duplicate=result.duplicate)

    @submit_event.validator
    def _validate_event(self, req: EventRequest) -> None:
        # The engine's own check, on the case as it stands now: a refused update leaves no trace.
        if self.state is None or self.policy is None or self._opening_task():
            raise ValueError(f"{STILL_OPENING}; send the event again in a moment")
        unbounded = self._unbounded(req)
        if unbounded is not None:
            raise ValueError(unbounded)
        refusal = self._caller_refusal(
            case_id=self.state.case_id, event=req.name, data=req.data, role=req.role, token=req.token
        )
        if refusal is not None:
            raise ValueError(refusal)
        if req.key is not None and req.key in self.state.event_keys:
            return
        forged = self._platform_only(req.name, req.key)
        if forged is not None:
            raise ValueError(forged)
        reason = check_event(self.policy, self._projected(), self._event(req))
        if reason is not None:
            raise ValueError(reason)

    def _opening_task(self) -> bool:
        """True while this workflow task is the one that finished the opening.

        An update accepted in that task would follow the opening's commands in the live history,
        but a worker replaying it from scratch delivers the update together with the policy
        activity's result and accepts it first: a non-determinism error (found by the chaos test).
        Refused here, the update leaves no trace and the sender's retry lands in a later task.
        """
        return self.opened_in_task is not None and workflow.info().get_current_history_length() == self.opened_in_task

    # -- the worker's own reports (workflows.trust) ----------------------------------------------------

    def _platform_only(self, name: str, key: str | None) -> str | None:
        """Why an event from outside is refused because only the platform reports it, or None."""
        if self.reported is None:
            self.reported = reported_events(self._policy())
        return platform_only(name, key, self.reported, self.awaiting_reports)

    def _refuses_forged_reports(self) -> bool:
        """Asked only when a signal brings a report without its key: a case begun before applied it."""
        return workflow.patched(PATCH_PLATFORM_REPORTS)

    def _took_report(self, name: str, key: str | None, result: StepResult) -> None:
        """A deferred report applied with its key: the case waits for it no longer."""
        if key is None or result.refused is not None or result.failed is not None:
            return
        digest = report_digest(key)
        if self.awaiting_reports.get(digest) == name:
            del self.awaiting_reports[digest]

    @workflow.signal(name=SIGNAL_EVENT)
    def event(self, req: EventRequest) -> None:
        # Fire-and-forget senders (carriers): a refusal is recorded in the timeline.
        self.inbox.append((self._event(req), req))

    @workflow.query(name=QUERY_STATUS)
    def status(self) -> CaseStatus:
        return self._status()

    @workflow.query(name=QUERY_TIMELINE)
    def timeline(self) -> Timeline:
        state = self._state()
        return Timeline(
            case_id=state.case_id,
            policy_id=state.policy_id,
            policy_version=state.policy_version,
            entries=state.timeline,
        )

    @workflow.query(name=QUERY_IDLE)
    def idle(self) -> bool:
        """Open and waiting only for time or a message: no event, effect or due timer left to handle,
        and its facts written to the ledger (when it keeps one).

        Tests and tools wait on this instead of guessing from a timeline that stopped growing.
        """
        if self.state is None:
            return False
        due = self.state.next_timer()
        overdue = due is not None and due[1] <= self.now() and not self.state.closed
        idle = not self.inbox and not self.actions and not self.actions_running and not overdue
        return idle and self._facts_sent()

    @workflow.query(name=QUERY_OPENING)
    def opening_request(self) -> OpenRequest | None:
        return self.opening


def search_attribute_pairs(values: dict[str, Any]) -> Any:
    from workflows.search_attributes import to_updates

    return to_updates(values)


_ = asyncio  # wait_condition raises asyncio.TimeoutError, an alias of TimeoutError on 3.11
