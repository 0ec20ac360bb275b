"""Record the histories of a case that writes the ledger (the `ledger-facts` patch) into tests/histories/.

`python -m tests.e2e.record_ledger_histories` records, when missing, both runs of a return that
continues as new while it writes its facts: the first run (the patch's marker, `record_facts` after
each change, every batch awaited before continuing) and the last one (started from the carried
cursor). Existing histories are kept, never re-recorded.
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from aftersales_cli.devserver import test_server_binary as find_test_server
from bench.cases import RETURN_EVENTS, return_case_data, sender_of
from tests.e2e.harness import register_search_attributes
from tests.e2e.ledger_harness import ledger_worker
from tests.e2e.record_histories import HISTORIES
from tests.principal import sign_open, signed_client
from workflows.case_workflow import AfterSalesCase
from workflows.contract import CaseStart, OpenRequest, workflow_id_for

TASK_QUEUE = "aftersales-record-ledger"
FIRST, LAST = HISTORIES / "path-ledger-facts-first-run.json", HISTORIES / "path-ledger-facts-last-run.json"


async def record() -> None:
    if FIRST.exists() and LAST.exists():
        print(f"kept {FIRST.name} and {LAST.name}")
        return
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_test_server(), data_converter=pydantic_data_converter
    )
    await register_search_attributes(env.client)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with ledger_worker(env.client, f"sqlite:///{Path(tmp) / 'ledger.sqlite3'}", TASK_QUEUE):
                cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
                case_id = f"LEDGER-{uuid.uuid4().hex[:8]}"
                now = await env.get_current_time()
                data = return_case_data(1, now)
                opening = sign_open(OpenRequest(case_id=case_id, case_type="return", data=data), now=now)
                started = await env.client.start_workflow(
                    AfterSalesCase.run,
                    CaseStart(open=opening, history_limit=15),
                    id=workflow_id_for(case_id),
                    task_queue=TASK_QUEUE,
                )
                for i, (name, role, event_data) in enumerate(RETURN_EVENTS):
                    await cases.event(case_id, name, role, sender_of(data, role), event_data, key=f"{case_id}/{i}")
                latest = env.client.get_workflow_handle(workflow_id_for(case_id))
                await latest.result()
                first = env.client.get_workflow_handle(workflow_id_for(case_id), run_id=started.result_run_id)
                FIRST.write_text((await first.fetch_history()).to_json(), encoding="utf-8")
                LAST.write_text((await latest.fetch_history()).to_json(), encoding="utf-8")
                print(f"recorded {FIRST.name} and {LAST.name}")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record())
