"""A live case on a policy that fails at run time: the sender hears why, the timeline records it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.e2e.harness import Deferred, running_worker
from tests.policy_engine.engine.test_policy_failures import BASE, POLICY
from tests.principal import sign_event, signed_client
from workflows.contract import POLICY_FAILED, QUERY_TIMELINE, UPDATE_SUBMIT_EVENT, CaseStatus, EventRequest, Timeline


async def test_an_event_the_policy_fails_on_is_not_applied_and_the_sender_hears_why(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    folder = tmp_path / "policies"
    shutil.copytree(BASE, folder)
    (folder / "ticket.yaml").write_text(POLICY, encoding="utf-8")
    queue = "aftersales-e2e-policy-failed"
    async with running_worker(env.client, folder, tmp_path / "o.sqlite3", queue, Deferred()):
        cases = signed_client(env.client, queue, clock=env.get_current_time)
        await cases.open("ticket", "E2E-FAIL-1", {})  # no amount: the priority decision cannot compare it
        handle = cases.handle("E2E-FAIL-1")
        with pytest.raises(WorkflowUpdateFailedError) as info:
            await handle.execute_update(
                UPDATE_SUBMIT_EVENT,
                sign_event(
                    "E2E-FAIL-1",
                    EventRequest(name="take", role="agent", actor_id="A-1"),
                    now=await env.get_current_time(),
                ),
                result_type=CaseStatus,
            )
        cause = info.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == POLICY_FAILED
        assert "decision 'priority' failed at row 'big'" in cause.message
        assert (await cases.status("E2E-FAIL-1")).state == "new"
        timeline = await handle.query(QUERY_TIMELINE, result_type=Timeline)
        assert [e.kind for e in timeline.entries][-1] == "error"
        await handle.terminate("test over")  # its timer would hold the test server's clock still
