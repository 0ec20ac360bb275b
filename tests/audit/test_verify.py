"""`audit.verify` on real cases (time-skipping server): cases that ran verify; a tampered input, a
case checked against other policy content, and a case continued as new are each reported precisely."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.outbox import Outbox
from audit.history import CaseHistory, fetch_case
from audit.verify import verify_case
from bench.cases import RETURN_EVENTS, return_case_data, sender_of
from policy_engine.language import ResolvedPolicy, load_policy_set
from policy_engine.testing import load_scenario
from tests.audit.conftest import TASK_QUEUE
from tests.conftest import POLICIES, SCENARIOS
from tests.e2e.harness import Deferred, run_live
from tests.principal import sign_open, signed_client
from workflows.case_workflow import AfterSalesCase
from workflows.contract import CaseStart, OpenRequest, workflow_id_for

# A refund, a timer that closes a case, an SLA breach and an escalation ladder, and a deferred report.
STORIES = [
    "return-no-reason-happy-path",
    "return-merchant-silent-then-no-shipment",
    "complaint-merchant-silent",
    "return-refund-overdue-platform-pays-first",
]


async def _ran(env: WorkflowEnvironment, deferred: Deferred, story: str) -> CaseHistory:
    live = await run_live(env, load_scenario(SCENARIOS / f"{story}.yaml"), TASK_QUEUE, deferred)
    return await fetch_case(env.client, live.case_id)


@pytest.mark.parametrize("story", STORIES)
async def test_a_case_that_ran_verifies(
    env: WorkflowEnvironment, outbox: Outbox, deferred: Deferred, story: str
) -> None:
    case = await _ran(env, deferred, story)
    verdict = verify_case(case)
    assert verdict.divergences == []
    # Not verified for want of a record: the history held inputs and what the case did with them.
    assert case.inputs and case.actions and case.pinned is not None


async def test_a_tampered_event_is_reported_where_it_starts(
    env: WorkflowEnvironment, outbox: Outbox, deferred: Deferred
) -> None:
    case = await _ran(env, deferred, "return-no-reason-happy-path")
    events = [n for n, i in enumerate(case.inputs, start=1) if i.request is not None]
    shipped = events[1]
    original = case.inputs[shipped - 1]
    assert original.request is not None and original.request.name == "return_shipped"
    # The record says the customer shipped the parcel; this copy says the customer cancelled instead.
    forged = original.request.model_copy(update={"name": "customer_cancel", "data": {}})
    case.inputs[shipped - 1] = dataclasses.replace(original, request=forged)

    lines = [str(d) for d in verify_case(case).divergences]

    assert lines, "a tampered history verified"
    # Where it starts (the time in UTC, as no zone was asked for), and what the record says instead.
    assert lines[0] == (
        f"at event #{shipped} customer_cancel (2026-11-05 01:00:00 +00:00): "
        "recorded state `in_transit`, the policy gives `cancelled`"
    )


def _halved_refunds(tmp_path: Path) -> ResolvedPolicy:
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder)
    returns = folder / "returns.yaml"
    text = returns.read_text(encoding="utf-8")
    whole = "case.item.price * case.item.quantity"
    assert whole in text
    returns.write_text(text.replace(whole, f"({whole}) / 2"), encoding="utf-8")
    scenario = load_scenario(SCENARIOS / "return-no-reason-happy-path.yaml")
    return load_policy_set([folder]).select("return", scenario.data, scenario.opened_at)


async def test_a_case_checked_against_other_policy_content_diverges_at_the_refund(
    env: WorkflowEnvironment, outbox: Outbox, deferred: Deferred, tmp_path: Path
) -> None:
    case = await _ran(env, deferred, "return-no-reason-happy-path")

    verdict = verify_case(case, policy=_halved_refunds(tmp_path))

    first = verdict.divergences[0]
    assert case.inputs[first.at_input - 1].describe() == "confirm_receipt"
    assert "recorded action `refund`" in first.message
    assert '"amount": 299' in first.message and '"amount": 149.5' in first.message


async def test_a_case_continued_as_new_verifies_across_its_runs(env: WorkflowEnvironment, outbox: Outbox) -> None:
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    now = await env.get_current_time()
    case_id = "AUDIT-CAN-1"
    start = CaseStart(
        open=sign_open(OpenRequest(case_id=case_id, case_type="return", data=return_case_data(1, now)), now=now),
        history_limit=15,
    )
    await env.client.start_workflow(AfterSalesCase.run, start, id=workflow_id_for(case_id), task_queue=TASK_QUEUE)
    for i, (name, role, data) in enumerate(RETURN_EVENTS):
        await cases.event(case_id, name, role, sender_of(start.open.data, role), data, key=f"{case_id}/{i}")
    await env.client.get_workflow_handle(workflow_id_for(case_id)).result()

    case = await fetch_case(env.client, case_id)

    assert case.carried, "the case did not continue as new"
    assert verify_case(case).divergences == []
    # The carried state is compared entry by entry: a forged entry in it is found.
    carried = case.carried[0]
    entries = list(carried.state.timeline)
    entries[-1] = entries[-1].model_copy(update={"name": "forged"})
    case.carried[0] = dataclasses.replace(carried, state=carried.state.model_copy(update={"timeline": entries}))
    assert any("recorded timeline entry" in str(d) for d in verify_case(case).divergences)
