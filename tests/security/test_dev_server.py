"""The forgeries on a real Temporal dev server (update admission, history and task routing as in
production), with the worker as production runs it (backdating off), and the command line's answer
to a case file that sets opened_at."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import uuid
from pathlib import Path
from subprocess import PIPE

import pytest
from temporalio.client import Client

from activities.outbox import Outbox
from policy_engine.language import PolicySet
from starter import CaseRefused, EventRefused
from tests.conftest import ROOT
from tests.e2e.harness import settled
from tests.principal import process_env, signed_client
from tests.security.attacks import (
    drive_to_refund,
    forged_pinned_start,
    no_forged_effect,
    refund_rows,
    refused_run,
    scheduled_activities,
    victim,
)
from tests.worker_fixtures import dev_server_worker
from workflows.contract import PLATFORM_ONLY, START_REFUSED, workflow_id_for

AFTERSALES = str(Path(sys.executable).parent / "aftersales")


server, client, task_queue, outbox = dev_server_worker("security")


async def test_forgeries_on_a_dev_server_are_refused_and_the_real_case_is_paid(
    client: Client, task_queue: str, outbox: Outbox, policy_set: PolicySet
) -> None:
    now = dt.datetime.now(dt.UTC)
    cases = signed_client(client, task_queue)
    victim_id = f"DEV-VICTIM-{uuid.uuid4().hex[:6]}"
    data, refund_key, amount = victim(policy_set, victim_id, 42, now)

    # A start carrying the victim's state and a refund of 99,999,999 under its key.
    attacker = f"DEV-ATTACKER-{uuid.uuid4().hex[:6]}"
    forged = forged_pinned_start(policy_set, attacker, victim_id, data, refund_key, now)
    failure = await refused_run(client, forged, workflow_id_for(attacker), task_queue)
    assert failure.type == START_REFUSED and failure.non_retryable and "opening request only" in failure.message
    assert await scheduled_activities(client, workflow_id_for(attacker)) == []

    # A case opened three weeks in the past.
    backdated = f"DEV-BACKDATED-{uuid.uuid4().hex[:6]}"
    with pytest.raises(CaseRefused, match="AFTERSALES_ALLOW_BACKDATING is off"):
        await cases.open("return", backdated, data, now - dt.timedelta(days=21))

    # The payment service's report, from someone else.
    await drive_to_refund(cases, victim_id, data)
    status, timeline = await settled(cases.handle(victim_id))
    assert status.state == "refunded"  # the worker reported the refund itself
    with pytest.raises(EventRefused, match="the case is closed"):
        await cases.event(victim_id, "refund_completed", "system", "payments")
    other = f"DEV-REPORT-{uuid.uuid4().hex[:6]}"
    await cases.open("return", other, data)
    with pytest.raises(EventRefused, match=PLATFORM_ONLY):
        await cases.event(other, "refund_completed", "system", "payments")

    assert refund_rows(outbox, victim_id) == [(refund_key, amount)]
    assert [e.name for e in timeline.entries if e.kind == "event"].count("refund_completed") == 1
    assert outbox.list(case_id=attacker) == [] and outbox.list(case_id=backdated) == []
    no_forged_effect(outbox)


async def test_the_command_line_explains_a_refused_opened_at(
    server: str, task_queue: str, outbox: Outbox, tmp_path: Path
) -> None:
    case_id = f"DEV-CLI-{uuid.uuid4().hex[:6]}"
    case_file = tmp_path / "case.yaml"
    example = (ROOT / "examples" / "return-case.yaml").read_text(encoding="utf-8")
    case_file.write_text(example.replace("case_id: R-1001", f"case_id: {case_id}\nopened_at: -21d"), encoding="utf-8")
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": server,
        "AFTERSALES_TASK_QUEUE": task_queue,
        "AFTERSALES_HOME": str(ROOT),
        "AFTERSALES_LOG_FORMAT": "json",
        **process_env(tmp_path),
    }
    # Asynchronously: the worker runs on this test's event loop and must answer the command meanwhile.
    command = await asyncio.create_subprocess_exec(
        AFTERSALES, "case", "open", str(case_file), cwd=ROOT, env=env, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(command.communicate(), timeout=60)
    assert command.returncode == 1, (out, err)
    said = " ".join(err.decode().split())
    assert f"case {case_id} was not opened: the case file sets opened_at" in said, said
    assert "AFTERSALES_ALLOW_BACKDATING" in said and "Remove opened_at from the file" in said
    assert "21 days before the server's time" in said
    assert outbox.list(case_id=case_id) == []
