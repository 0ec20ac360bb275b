"""Record the workflow histories of the default policy tests into tests/histories/.

`make histories` records the scenarios that have no history yet (new policy tests); existing ones
are kept, never re-recorded. The replay test proves the current code replays every one of them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import uuid
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from aftersales_cli.devserver import test_server_binary as find_test_server
from bench.cases import RETURN_EVENTS, return_case_data, sender_of
from policy_engine.testing import load_scenario, scenario_files
from tests.conftest import POLICIES, SCENARIOS
from tests.e2e.close_by_update_case import record_closed_case
from tests.e2e.harness import SCENARIO_DATES, Deferred, register_search_attributes, run_live, running_worker
from tests.e2e.working_day_pause_case import record_held_case
from tests.principal import sign_event, sign_open, signed_client
from workflows.case_workflow import AfterSalesCase
from workflows.contract import CaseStart, EventRequest, OpenRequest, workflow_id_for

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
TASK_QUEUE = "aftersales-record"


async def record() -> None:
    HISTORIES.mkdir(exist_ok=True)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_test_server(), data_converter=pydantic_data_converter
    )
    await register_search_attributes(env.client)
    deferred = Deferred()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # The policy tests' own dates, and the history limit of the continue-as-new path: capabilities
            # of this worker, enabled here explicitly (README "Security model").
            allowed = dataclasses.replace(SCENARIO_DATES, history_limit=True)
            async with running_worker(env.client, POLICIES, Path(tmp) / "o.sqlite3", TASK_QUEUE, deferred, allowed):
                for path in scenario_files([SCENARIOS]):
                    target = HISTORIES / f"{path.stem}.json"
                    if target.exists():
                        # The corpus keeps what earlier releases recorded: a history is added, never
                        # replaced (the replay test proves today's code still replays the old ones).
                        print(f"kept {target.name}")
                        continue
                    live = await run_live(env, load_scenario(path), TASK_QUEUE, deferred)
                    history = await live.handle.fetch_history()
                    target.write_text(history.to_json(), encoding="utf-8")
                    print(f"recorded {path.stem} ({len(history.events)} events)")
                await record_paths(env)
                await record_reports(env, deferred)
                await record_signed_signals(env)
                await record_bounded_signals(env)
            await record_working_day_pauses(env)
            await record_close_by_update(env)
    finally:
        await env.shutdown()


async def record_working_day_pauses(env: WorkflowEnvironment) -> None:
    """A working-day clock held over a weekend (the `working-day-pauses` patch's marker), on a policy
    of its own (tests/e2e/working_day_pause_case.py). Recorded only when missing."""
    target = HISTORIES / "path-working-day-pauses.json"
    if not target.exists():
        await record_held_case(env, target, "aftersales-record-working-days")


async def record_close_by_update(env: WorkflowEnvironment) -> None:
    """A case an update closes with no timer left (the `close-ends-run` patch's marker), on a policy of
    its own (tests/e2e/close_by_update_case.py). Recorded only when missing."""
    target = HISTORIES / "path-close-by-update-ends-run.json"
    if not target.exists():
        await record_closed_case(env, target, "aftersales-record-close")


async def record_paths(env: WorkflowEnvironment) -> None:
    """The paths no policy test takes: an opening by update-with-start (as CaseClient opens), and a
    case that continues as new mid-run (both runs). Each is recorded only when missing."""
    opened = HISTORIES / "path-open-by-update-with-start.json"
    first, last = HISTORIES / "path-continue-as-new-first-run.json", HISTORIES / "path-continue-as-new-last-run.json"
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    now = await env.get_current_time()
    if not opened.exists():
        case_id = f"OPEN-{uuid.uuid4().hex[:8]}"
        opening = return_case_data(1, now)
        await cases.open("return", case_id, opening)
        await cases.open("return", case_id, opening)  # the same opening again: answered, not opened
        for i, (name, role, data) in enumerate(RETURN_EVENTS):
            await cases.event(case_id, name, role, sender_of(opening, role), data, key=f"{case_id}/{i}")
        handle = cases.handle(case_id)
        await handle.result()
        opened.write_text((await handle.fetch_history()).to_json(), encoding="utf-8")
        print(f"recorded {opened.name}")
    if not first.exists() or not last.exists():
        case_id = f"CAN-{uuid.uuid4().hex[:8]}"
        start = CaseStart(
            open=sign_open(OpenRequest(case_id=case_id, case_type="return", data=return_case_data(1, now)), now=now),
            history_limit=15,
        )
        started = await env.client.start_workflow(
            AfterSalesCase.run, start, id=workflow_id_for(case_id), task_queue=TASK_QUEUE
        )
        for i, (name, role, data) in enumerate(RETURN_EVENTS):
            await cases.event(case_id, name, role, sender_of(start.open.data, role), data, key=f"{case_id}/{i}")
        latest = env.client.get_workflow_handle(workflow_id_for(case_id))
        await latest.result()
        earliest = env.client.get_workflow_handle(workflow_id_for(case_id), run_id=started.result_run_id)
        first.write_text((await earliest.fetch_history()).to_json(), encoding="utf-8")
        last.write_text((await latest.fetch_history()).to_json(), encoding="utf-8")
        print(f"recorded {first.name} and {last.name}")


async def record_reports(env: WorkflowEnvironment, deferred: Deferred) -> None:
    """A report only the platform sends (refund_completed, deferred to the payment service): sent by
    someone else as a signal it is refused (the `platform-reports-only` patch's marker), then the
    payment service's, with the report key the refund carried, is applied. Recorded only when missing."""
    target = HISTORIES / "path-report-from-outside.json"
    if target.exists():
        return
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    case_id = f"REPORT-{uuid.uuid4().hex[:8]}"
    deferred.by_case[case_id] = {"refund_completed"}
    data = return_case_data(1, await env.get_current_time())
    await cases.open("return", case_id, data)
    for i, (name, role, event_data) in enumerate(RETURN_EVENTS):
        await cases.event(case_id, name, role, sender_of(data, role), event_data, key=f"{case_id}/{i}")
    await cases.signal(case_id, "refund_completed", "system", "payments")
    while not any(e.kind == "refused" for e in (await cases.timeline(case_id)).entries):
        await asyncio.sleep(0.05)
    await cases.event(case_id, "refund_completed", "system", "payments", key=deferred.report_key(case_id))
    handle = cases.handle(case_id)
    await handle.result()
    target.write_text((await handle.fetch_history()).to_json(), encoding="utf-8")
    print(f"recorded {target.name}")


async def record_signed_signals(env: WorkflowEnvironment) -> None:
    """Signals checked by the `check_caller` activity (the `signed-callers` patch's marker): one with
    no token, recorded refused; then the case's events sent signed as signals, applied."""
    target = HISTORIES / "path-signal-signed-callers.json"
    if target.exists():
        return
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    case_id = f"SIGNED-{uuid.uuid4().hex[:8]}"
    data = return_case_data(1, await env.get_current_time())
    await cases.open("return", case_id, data)
    handle = cases.handle(case_id)
    await handle.signal("event", EventRequest(name="merchant_approve", role="merchant", actor_id="M-1"))
    while not any(e.kind == "refused" for e in (await cases.timeline(case_id)).entries):
        await asyncio.sleep(0.05)
    for i, (name, role, event_data) in enumerate(RETURN_EVENTS):
        await cases.signal(case_id, name, role, sender_of(data, role), event_data, key=f"{case_id}/{i}")
    await handle.result()
    target.write_text((await handle.fetch_history()).to_json(), encoding="utf-8")
    print(f"recorded {target.name}")


async def record_bounded_signals(env: WorkflowEnvironment) -> None:
    """A signal over the event data cap, refused with its size and digest (the `bounded-signals`
    patch's marker), then a case that continues as new compacted (`compact-carried-state`): the first
    run, which holds both markers. Recorded only when missing."""
    target = HISTORIES / "path-bounded-signals-compacted.json"
    if target.exists():
        return
    cases = signed_client(env.client, TASK_QUEUE, clock=env.get_current_time)
    case_id = f"BOUNDED-{uuid.uuid4().hex[:8]}"
    now = await env.get_current_time()
    start = CaseStart(
        open=sign_open(OpenRequest(case_id=case_id, case_type="return", data=return_case_data(1, now)), now=now),
        history_limit=15,
    )
    started = await env.client.start_workflow(
        AfterSalesCase.run, start, id=workflow_id_for(case_id), task_queue=TASK_QUEUE
    )
    oversized = EventRequest(name="merchant_approve", role="merchant", actor_id="M-1", data={"note": "x" * 70_000})
    await started.signal("event", sign_event(case_id, oversized, now=await env.get_current_time()))
    while not any(e.kind == "refused" for e in (await cases.timeline(case_id)).entries):
        await asyncio.sleep(0.05)
    for i, (name, role, data) in enumerate(RETURN_EVENTS):
        await cases.event(case_id, name, role, sender_of(start.open.data, role), data, key=f"{case_id}/{i}")
    await env.client.get_workflow_handle(workflow_id_for(case_id)).result()
    first = env.client.get_workflow_handle(workflow_id_for(case_id), run_id=started.result_run_id)
    target.write_text((await first.fetch_history()).to_json(), encoding="utf-8")
    print(f"recorded {target.name}")


if __name__ == "__main__":
    asyncio.run(record())
