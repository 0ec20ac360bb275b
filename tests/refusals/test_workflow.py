"""Refused updates reach the ledger's `refusals` table with their reason and without their data; an
accepted update does not; replaying the case's history writes nothing again."""

from __future__ import annotations

import hashlib
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from ledger.store import Ledger
from service.identity.tokens import canonical_json
from service.refusals import RefusalBuffer, RefusalLogInterceptor
from tests.principal import CUSTOMER_NAME, DATA_CONVERTER, NAME
from tests.refusals.live import MARKUP_ID, PHONE, RefusedCase
from worker import workflow_runner
from workflows.case_workflow import AfterSalesCase


def test_each_refused_update_is_in_the_ledger_with_who_what_when_and_why(case: RefusedCase) -> None:
    store = Ledger(case.database_url)
    rows = {row["update_id"]: row for row in store.refusals_of(case.case_id)}
    store.close()

    assert set(rows) == set(case.refused) == {"wrong-role", MARKUP_ID, "bad-token"}
    for update_id, reason in case.refused.items():
        assert rows[update_id]["reason"] == reason  # what the caller was told
        assert rows[update_id]["update_name"] == "submit_event"
    assert "may not act as merchant" in rows["wrong-role"]["reason"]
    assert rows[MARKUP_ID]["reason"].startswith("unknown event: ")
    assert rows["bad-token"]["reason"].startswith("caller refused: the token")
    assert [(r["event"], r["role"], r["claimed_principal"]) for r in rows.values()] == [
        ("merchant_approve", "merchant", CUSTOMER_NAME),
        ("no_such_event", "merchant", NAME),
        ("merchant_approve", "merchant", None),  # no principal can be read from that token
    ]
    data = {"note": f"call me on {PHONE}"}
    assert {(r["data_sha256"], r["data_size"]) for r in rows.values()} == {
        (hashlib.sha256(canonical_json(data)).hexdigest(), len(canonical_json(data)))
    }
    assert all(PHONE not in repr(row) for row in rows.values())


def test_an_accepted_update_is_not_logged(case: RefusedCase) -> None:
    store = Ledger(case.database_url)
    assert case.accepted not in {row["update_id"] for row in store.refusals_of(case.case_id)}
    store.close()


async def test_replaying_the_history_logs_nothing_again(case: RefusedCase) -> None:
    buffer = RefusalBuffer()
    replayer = Replayer(
        workflows=[AfterSalesCase],
        interceptors=[RefusalLogInterceptor(buffer)],
        data_converter=DATA_CONVERTER,
        workflow_runner=workflow_runner(),
    )

    await replayer.replay_workflow(WorkflowHistory.from_json("case", case.history_json))

    assert len(buffer) == 0 and buffer.take_dropped() == 0


def test_the_refused_updates_left_no_trace_in_the_history(case: RefusedCase, tmp_path: Path) -> None:
    history = case.history_json
    assert case.accepted in history
    assert not any(update_id in history for update_id in ("wrong-role", "bad-token"))
