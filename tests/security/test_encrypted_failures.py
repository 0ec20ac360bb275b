"""Failure messages and stack traces are ciphertext in Temporal's history, on a real dev server.

An activity's failure can quote case data (a phone number in a payout refusal, an address in a
traceback). The project's converter moves a failure's message and stack trace into its encoded
attributes, which the payload codec encrypts: read raw from the server they are "Encoded failure";
a client with the keys, `aftersales case status` and `aftersales audit show` read them as written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path

import pytest
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.outbox import Outbox
from starter import CaseRefused
from tests.cli import ROOT
from tests.principal import process_env, signed_client
from tests.security.test_encrypted_history import ADDRESS, AFTERSALES, PHONE, _run, complaint
from tests.worker_fixtures import dev_server_worker
from workflows.contract import workflow_id_for

ENCODED = "Encoded failure"  # what the SDK leaves in a failure's message field


@activity.defn(name="refuse_payout")
async def refuse_payout(account: str) -> None:
    # As an integration's error would: the customer's data in the message, and in the traceback's frame.
    raise ApplicationError(f"the bank refused the payout to {account}", type="PayoutRefused", non_retryable=True)


@workflow.defn(name="Payout")
class Payout:
    @workflow.run
    async def run(self, account: str) -> None:
        await workflow.execute_activity(
            refuse_payout,
            account,
            start_to_close_timeout=dt.timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


# A dev server, a client with the project's converter (payloads and failures encrypted), and the case
# worker (started by `outbox`) on a task queue of its own.
server, client, task_queue, outbox = dev_server_worker("failures")


async def _raw_events(server: str, workflow_id: str) -> tuple[bytes, list[str]]:
    """The history as the server holds it, read without the codec: its bytes, and every failure's
    message field."""
    plain = await Client.connect(server, data_converter=pydantic_data_converter)
    history = await plain.get_workflow_handle(workflow_id).fetch_history()
    messages = []
    for event in history.events:
        for name in ("activity_task_failed_event_attributes", "workflow_execution_failed_event_attributes"):
            if event.HasField(name):
                failure = getattr(event, name).failure
                while True:
                    messages.append(failure.message)
                    if not failure.HasField("cause"):
                        break
                    failure = failure.cause
    return b"".join(event.SerializeToString() for event in history.events), messages


async def test_a_failed_activitys_message_is_ciphertext_in_the_history_and_read_with_the_keys(
    server: str, client: Client
) -> None:
    queue = f"payout-{uuid.uuid4().hex[:8]}"
    workflow_id = f"payout-{uuid.uuid4().hex[:8]}"
    account = f"{PHONE}, {ADDRESS}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[Payout],
        activities=[refuse_payout],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(Payout.run, account, id=workflow_id, task_queue=queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()

    raw, messages = await _raw_events(server, workflow_id)
    assert PHONE.encode() not in raw and ADDRESS.encode() not in raw
    assert "refuse_payout" in raw.decode("utf-8", errors="replace")  # the raw history was read
    assert messages and set(messages) == {ENCODED}  # the activity's failure, and the run's with its cause
    # Through the codec, the same history says what the activity said.
    activity_error = failed.value.cause
    assert isinstance(activity_error, ActivityError) and isinstance(activity_error.cause, ApplicationError)
    assert activity_error.cause.message == f"the bank refused the payout to {account}"
    assert activity_error.cause.type == "PayoutRefused"


async def test_a_refused_opening_is_ciphertext_and_the_commands_read_its_reason(
    server: str, client: Client, task_queue: str, outbox: Outbox, tmp_path: Path
) -> None:
    case_id = f"FAIL-{uuid.uuid4().hex[:6]}"
    data = complaint(case_id) | {"category": "lost"}  # not a category: the policy refuses the opening
    with pytest.raises(CaseRefused) as refused:
        await signed_client(client, task_queue).open("complaint", case_id, data)
    reason = "category: is not one of"
    assert reason in str(refused.value)

    raw, messages = await _raw_events(server, workflow_id_for(case_id))
    assert reason.encode() not in raw and ENCODED in messages

    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": server,
        "AFTERSALES_TASK_QUEUE": task_queue,
        "AFTERSALES_HOME": str(ROOT),
        **process_env(tmp_path),
    }
    code, out, err = await _run(AFTERSALES, "case", "status", case_id, env=env)
    assert code == 1 and f"case {case_id} was refused when it opened" in err and reason in err, (out, err)
    code, out, err = await _run(AFTERSALES, "audit", "show", case_id, env=env)
    assert code == 0, err
    assert reason in json.loads(out)["refused"]  # the bundle's `refused`, read through the codec
