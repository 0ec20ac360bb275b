"""A worker that writes the ledger, as `worker.py` builds it with AFTERSALES_LEDGER on: the outbox in
the ledger's database, `record_facts` registered, `resolve_policy` telling cases to write their facts."""

from __future__ import annotations

import concurrent.futures
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from temporalio.client import Client
from temporalio.worker import Worker

from activities.case_activities import CaseActivities, OutboxSink
from activities.ledger_activities import LedgerActivities
from activities.outbox import Outbox
from activities.policy_source import PolicySource
from ledger.schema import metadata
from ledger.store import Ledger
from tests.conftest import POLICIES
from tests.e2e.harness import SCENARIO_DATES
from tests.principal import GATE
from worker import workflow_runner
from workflows.case_workflow import AfterSalesCase

# The scenarios' dates and a small history limit (to continue as new): capabilities enabled here.
CAPABILITIES = dataclasses.replace(SCENARIO_DATES, history_limit=True)


@asynccontextmanager
async def ledger_worker(client: Client, database_url: str, task_queue: str) -> AsyncIterator[Ledger]:
    ledger = Ledger(database_url)
    ledger.upgrade()
    acts = CaseActivities(
        PolicySource(POLICIES, check_every=0),
        OutboxSink(Outbox(ledger)),
        lambda: client,
        task_queue=task_queue,
        backdating=CAPABILITIES,
        callers=GATE,
        ledger=True,
    )
    try:
        async with Worker(
            client,
            task_queue=task_queue,
            workflows=[AfterSalesCase],
            activities=[*acts.activities(), *LedgerActivities(ledger).activities()],
            activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=4),
            workflow_runner=workflow_runner(),
        ):
            yield ledger
    finally:
        ledger.close()


def rows_of(ledger: Ledger, table: str, case_id: str) -> list[dict[str, Any]]:
    """A case's rows of one ledger table, in key order."""
    t = metadata.tables[table]
    with ledger.engine.connect() as db:
        query = sa.select(t).where(t.c.case_id == case_id).order_by(*t.primary_key.columns)
        return [dict(row._mapping) for row in db.execute(query)]
