"""Live cases write their facts to the ledger as they go (the `ledger-facts` patch), on the
time-skipping server: a return run through its loop leaves its case row (closed, refund total), every
transition and its clocks' outcomes; a case that continues as new, its timeline compacted, leaves no
gap and no duplicate in its transitions."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

import workflows.compaction
from bench.cases import RETURN_EVENTS, return_case_data, sender_of
from ledger.store import Ledger
from starter import CaseClient
from tests.e2e.ledger_harness import ledger_worker, rows_of
from tests.principal import sign_open, signed_client
from workflows.case_workflow import AfterSalesCase
from workflows.compaction import EARLIER
from workflows.contract import CaseStart, CaseStatus, OpenRequest, Timeline, workflow_id_for

TASK_QUEUE = "aftersales-ledger-facts"


@pytest_asyncio.fixture
async def ledger(env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Ledger]:
    async with ledger_worker(env.client, f"sqlite:///{tmp_path / 'ledger.sqlite3'}", TASK_QUEUE) as store:
        yield store


async def _run_return(env: WorkflowEnvironment, history_limit: int | None = None) -> tuple[str, dict[str, Any]]:
    """A return from request to refund, sent as its parties would; its id and opening data."""
    cases: CaseClient = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    case_id = f"LEDGER-{uuid.uuid4().hex[:8]}"
    now = await env.get_current_time()
    data = return_case_data(3, now)
    data["item"] = {**data["item"], "price": 129.9, "quantity": 2}
    if history_limit is None:
        await cases.open("return", case_id, data)
    else:
        opening = sign_open(OpenRequest(case_id=case_id, case_type="return", data=data), now=now)
        start = CaseStart(open=opening, history_limit=history_limit)
        await env.client.start_workflow(AfterSalesCase.run, start, id=workflow_id_for(case_id), task_queue=TASK_QUEUE)
    for i, (name, role, event_data) in enumerate(RETURN_EVENTS):
        await cases.event(case_id, name, role, sender_of(data, role), event_data, key=f"{case_id}/{i}")
    await env.client.get_workflow_handle(workflow_id_for(case_id), result_type=CaseStatus).result()
    return case_id, data


async def _timeline(env: WorkflowEnvironment, case_id: str) -> Timeline:
    return await signed_client(env.client, TASK_QUEUE).timeline(case_id)


def _moves(timeline: Timeline) -> list[tuple[int, str | None, str]]:
    """(position, from, to) of each move the timeline shows (a stopped move has no `to`)."""
    return [
        (i, e.detail.get("from"), e.detail["to"])
        for i, e in enumerate(timeline.entries)
        if e.kind in ("open", "transition") and e.detail.get("to")
    ]


async def test_a_return_leaves_its_case_row_transitions_and_clock_outcomes(
    env: WorkflowEnvironment, ledger: Ledger
) -> None:
    case_id, data = await _run_return(env)
    timeline = await _timeline(env, case_id)
    status = await signed_client(env.client, TASK_QUEUE).status(case_id)

    [case] = rows_of(ledger, "cases", case_id)
    assert (case["case_type"], case["merchant"], case["category"], case["channel"]) == (
        "return",
        data["order"]["merchant_id"],
        data["item"]["category"],
        data["channel"],
    )
    assert case["final_state"] == status.state == "refunded" and case["closed_at"] is not None
    # The item's price times its quantity, from the data sent (not from the engine).
    assert Decimal(str(case["refund_total"])) == Decimal("129.9") * 2

    transitions = rows_of(ledger, "transitions", case_id)
    assert [(r["seq"], r["from_state"], r["to_state"]) for r in transitions] == _moves(timeline)

    # Each clock's outcome is its last entry in the timeline, and it ran from its first.
    clocks = {r["clock"]: r for r in rows_of(ledger, "sla_clocks", case_id)}
    sla = [e for e in timeline.entries if e.kind == "sla"]
    assert sla and set(clocks) == {e.name for e in sla}
    for name, row in clocks.items():
        mine = [e for e in sla if e.name == name]
        assert row["status"] == mine[-1].detail["status"], (name, row, mine)
        assert row["started_at"].replace(tzinfo=dt.UTC) == mine[0].at.astimezone(dt.UTC)
        assert (row["ended_at"] is None) == (row["status"] in ("running", "paused", "breached"))


async def test_a_case_continued_as_new_leaves_no_gap_and_no_duplicate(
    env: WorkflowEnvironment, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Carry 2 entries at continue-as-new instead of 500 (the worker runs in this process and the
    # sandbox passes workflows.compaction through), so that runs leave entries behind.
    monkeypatch.setattr(workflows.compaction, "CARRIED_ENTRIES", 2)
    case_id, _ = await _run_return(env, history_limit=15)
    timeline = await _timeline(env, case_id)
    dropped = timeline.entries[0].detail.get(EARLIER, {}).get("entries", 0)
    assert dropped > 0, "the case did not continue as new with entries left behind"

    transitions = rows_of(ledger, "transitions", case_id)
    seqs = [r["seq"] for r in transitions]
    assert seqs == sorted(set(seqs))
    # One chain of moves from the opening to the close: no move missing, none twice.
    assert transitions[0]["from_state"] is None
    for before, after in itertools.pairwise(transitions):
        assert after["from_state"] == before["to_state"], (before, after)
    assert transitions[-1]["to_state"] == "refunded"
    assert [r["to_state"] for r in transitions].count("refunding") == 1
    # The moves the last run still holds are the rows at their absolute numbers (position + dropped).
    kept = [(i + dropped if i else 0, before, after) for i, before, after in _moves(timeline)]
    by_seq = {r["seq"]: (r["seq"], r["from_state"], r["to_state"]) for r in transitions}
    assert [by_seq.get(seq) for seq, _, _ in kept] == kept
