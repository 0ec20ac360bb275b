"""The worker's side of the bounds (activities.case_activities): an oversized opening is refused by
`resolve_policy` with the reason and the caps recorded in its result; a linked case whose derived id
would break the id rule is not opened."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.case_activities import CaseActivities, OutboxSink
from activities.outbox import Outbox
from activities.policy_source import PolicySource
from bench.cases import return_case_data
from tests.conftest import POLICIES
from workflows.bounds import LINKED_CASE_ID_MAX
from workflows.contract import ActionRequest, DataLimits, ResolveRequest

NOW = dt.datetime.now(dt.UTC)


def _activities(tmp_path: Path, limits: DataLimits) -> CaseActivities:
    def no_client() -> Client:
        raise AssertionError("no linked case may be started")

    source = PolicySource(POLICIES)
    return CaseActivities(source, OutboxSink(Outbox(tmp_path / "o.sqlite3")), no_client, limits=limits)


def test_resolve_policy_refuses_an_oversized_opening_and_records_its_caps(tmp_path: Path) -> None:
    limits = DataLimits(case_data_bytes=4096, event_data_bytes=2048, data_depth=8)
    acts = _activities(tmp_path, limits)
    data = return_case_data(1, NOW)
    payload = ActivityEnvironment().run(
        acts.resolve_policy, ResolveRequest(case_type="return", data=data, opened_at=NOW)
    )
    assert payload.limits == limits  # what the case pins for its validators and signals
    oversized = {**data, "note": "x" * 5000}
    with pytest.raises(ApplicationError) as refused:
        ActivityEnvironment().run(
            acts.resolve_policy, ResolveRequest(case_type="return", data=oversized, opened_at=NOW)
        )
    assert refused.value.type == "CaseRefused" and refused.value.non_retryable
    assert "AFTERSALES_MAX_CASE_DATA_BYTES" in refused.value.message and "x" * 50 not in refused.value.message


async def test_a_linked_case_whose_id_would_be_too_long_is_not_opened(tmp_path: Path) -> None:
    acts = _activities(tmp_path, DataLimits())
    parent = "R" * 195  # itself a linked case's id, near the longest
    linked = f"{parent}-return-3"
    assert len(linked) > LINKED_CASE_ID_MAX
    request = ActionRequest(
        case_id=parent,
        case_type="repair",
        workflow_id=f"case-{parent}",
        policy_version="v1",
        key=f"{parent}/3/open_case",
        type="open_case",
        params={"case_id": linked, "case_type": "return", "data": {}, "linked_to": parent},
    )
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=f"case-{parent}", scheduled_time=NOW)
    with pytest.raises(ApplicationError) as refused:
        await env.run(acts.open_linked_case, request)
    assert refused.value.type == "InvalidAction" and "a case id is 1 to 160 characters" in refused.value.message
