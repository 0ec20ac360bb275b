"""A return case on the time-skipping server whose worker logs refusals, sent one accepted event and
three refused ones (wrong role, unknown event, bad token), as a backend system would send them."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.case_activities import CaseActivities, OutboxSink
from activities.outbox import Outbox
from activities.policy_source import PolicySource
from policy_engine.testing import load_scenario
from service.identity import mint
from service.refusals import RefusalLog
from tests.conftest import POLICIES, SCENARIOS
from tests.e2e.harness import SCENARIO_DATES, settled, time_skipping_server
from tests.principal import CUSTOMER_KEY, CUSTOMER_NAME, GATE, sign_event, sign_open
from worker import workflow_runner
from workflows.case_workflow import AfterSalesCase
from workflows.contract import UPDATE_SUBMIT_EVENT, CaseStart, CaseStatus, EventRequest, OpenRequest, workflow_id_for

TASK_QUEUE = "aftersales-refusals"
SCENARIO = SCENARIOS / "return-converted-from-repair.yaml"
PHONE = "13800138000"  # in every refused event's data: it must reach neither the ledger nor the bundle
# A client chooses its update ids: one that is markup must show as text on the bundle's page.
MARKUP_ID = "<script>alert('refused')</script>"


@dataclass
class RefusedCase:
    case_id: str
    database_url: str
    history_json: str
    refused: dict[str, str]  # update id -> the reason its caller got
    accepted: str  # the accepted update's id


async def refused_case(folder: Path) -> RefusedCase:
    scenario = load_scenario(SCENARIO, str(SCENARIO))
    case_id = f"{scenario.case_id}-{uuid.uuid4().hex[:8]}"
    database_url = f"sqlite:///{folder / 'ledger.sqlite3'}"
    log = RefusalLog(database_url).start()
    acts = CaseActivities(
        PolicySource(POLICIES, check_every=0),
        OutboxSink(Outbox(folder / "outbox.sqlite3")),
        lambda: env.client,
        task_queue=TASK_QUEUE,
        backdating=SCENARIO_DATES,
        callers=GATE,
    )
    async with (
        time_skipping_server() as env,
        Worker(
            env.client,
            task_queue=TASK_QUEUE,
            workflows=[AfterSalesCase],
            activities=acts.activities(),
            activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=2),
            workflow_runner=workflow_runner(),
            interceptors=[log.interceptor],
        ),
    ):
        now = await env.get_current_time()
        handle = await env.client.start_workflow(
            AfterSalesCase.run,
            CaseStart(
                open=sign_open(
                    OpenRequest(
                        case_id=case_id,
                        case_type=scenario.case_type,
                        data=scenario.data,
                        opened_at=scenario.opened_at,
                    ),
                    now=now,
                ),
                clock_offset_seconds=(scenario.opened_at - now).total_seconds(),
            ),
            id=workflow_id_for(case_id),
            task_queue=TASK_QUEUE,
        )
        await settled(handle)
        now = await env.get_current_time()
        data = {"note": f"call me on {PHONE}"}
        approve = EventRequest(name="merchant_approve", role="merchant", actor_id="M-1", data=data)
        sends = {
            # The customer app's principal signs as a merchant: not granted.
            "wrong-role": approve.model_copy(update={"token": _customer_token(case_id, data, now)}),
            MARKUP_ID: sign_event(case_id, approve.model_copy(update={"name": "no_such_event"}), now),
            "bad-token": approve.model_copy(update={"token": "not.a.token"}),
        }
        refused: dict[str, str] = {}
        for update_id, request in sends.items():
            try:
                await handle.execute_update(UPDATE_SUBMIT_EVENT, request, id=update_id, result_type=CaseStatus)
            except WorkflowUpdateFailedError as exc:
                assert isinstance(exc.cause, ApplicationError)
                refused[update_id] = exc.cause.message
        accepted = "approve"
        await handle.execute_update(
            UPDATE_SUBMIT_EVENT,
            sign_event(case_id, approve.model_copy(update={"data": {}}), now),
            id=accepted,
            result_type=CaseStatus,
        )
        await settled(handle)
        history = await handle.fetch_history()
    log.stop()  # writes what the buffer holds
    return RefusedCase(case_id, database_url, history.to_json(), refused, accepted)


def _customer_token(case_id: str, data: dict[str, str], now: dt.datetime) -> str:
    return mint(
        CUSTOMER_NAME, CUSTOMER_KEY, case_id=case_id, event="merchant_approve", data=data, role="merchant", now=now
    )
