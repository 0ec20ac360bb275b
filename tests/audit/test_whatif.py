"""What-if on real cases: a case read from its history, replayed under the live set and a draft."""

from __future__ import annotations

import shutil
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from activities.outbox import Outbox
from audit.history import fetch_case
from audit.scenario import case_scenario
from audit.verify import pinned_of
from policy_engine.language import load_policy_set
from policy_engine.testing import compare_results, load_scenario, run_scenario
from tests.audit.conftest import TASK_QUEUE
from tests.conftest import POLICIES, SCENARIOS
from tests.e2e.harness import Deferred, run_live


def _shorter_window(tmp_path: Path) -> Path:
    folder = tmp_path / "draft"
    shutil.copytree(POLICIES, folder)
    returns = folder / "returns.yaml"
    text = returns.read_text(encoding="utf-8")
    week = "length: 7 calendar days         # CPL 25, 7D art. 10"
    assert week in text
    returns.write_text(text.replace(week, "length: 1 calendar days"), encoding="utf-8")
    return folder


async def test_a_shorter_return_window_changes_the_real_case_it_would_have_refused(
    env: WorkflowEnvironment, outbox: Outbox, deferred: Deferred, tmp_path: Path
) -> None:
    live = await run_live(env, load_scenario(SCENARIOS / "return-no-reason-happy-path.yaml"), TASK_QUEUE, deferred)
    case = await fetch_case(env.client, live.case_id)
    scenario = case_scenario(case, pinned_of(case))
    old, new = load_policy_set([POLICIES]), load_policy_set([_shorter_window(tmp_path)])

    report = compare_results([run_scenario(old, scenario)], [run_scenario(new, scenario)])

    assert report.total == 1 and len(report.changed) == 1
    changes = {c.field: (c.old, c.new) for c in report.changed[0].changes}
    assert changes["final_state"][0] == "refunded" and changes["final_state"][1] != "refunded"
    assert "refund" in changes["actions"][0]  # the refund would not have been paid


async def test_an_unchanged_policy_set_changes_nothing_on_real_cases(
    env: WorkflowEnvironment, outbox: Outbox, deferred: Deferred
) -> None:
    live = await run_live(env, load_scenario(SCENARIOS / "complaint-merchant-silent.yaml"), TASK_QUEUE, deferred)
    case = await fetch_case(env.client, live.case_id)
    scenario = case_scenario(case, pinned_of(case))
    policies = load_policy_set([POLICIES])

    assert compare_results([run_scenario(policies, scenario)], [run_scenario(policies, scenario)]).changed == []
