"""`aftersales audit verify` and `aftersales case export --as-scenario` as a reviewer runs them."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.outbox import Outbox
from policy_engine.testing import load_scenario
from tests.audit.conftest import TASK_QUEUE
from tests.cli import ROOT, aftersales
from tests.conftest import SCENARIOS
from tests.e2e.harness import Deferred, run_live
from tests.principal import process_env


def _env(env: WorkflowEnvironment, folder: Path) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "AFTERSALES_HOME": str(ROOT),
        "AFTERSALES_TIMEZONE": "Asia/Shanghai",
        **process_env(folder),
    }


async def _case(env: WorkflowEnvironment, deferred: Deferred, story: str) -> str:
    live = await run_live(env, load_scenario(SCENARIOS / f"{story}.yaml"), TASK_QUEUE, deferred)
    return live.case_id


async def test_verify_prints_verified_per_case_and_exits_0(
    env: WorkflowEnvironment, outbox: Outbox, deferred: Deferred, tmp_path: Path
) -> None:
    first = await _case(env, deferred, "return-no-reason-happy-path")
    second = await _case(env, deferred, "complaint-merchant-silent")

    result = aftersales("audit", "verify", first, second, env=_env(env, tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{first} verified" in result.stdout and f"{second} verified" in result.stdout
    assert "verified" in result.stdout.split("verification")[-1]  # the summary table


async def test_verify_names_a_case_it_cannot_find_and_exits_2(
    env: WorkflowEnvironment, outbox: Outbox, tmp_path: Path
) -> None:
    result = aftersales("audit", "verify", "R-NOT-THERE", env=_env(env, tmp_path))

    assert result.returncode == 2
    assert "no case R-NOT-THERE" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give case ids, --closed-since DATE, --query Q or --history FILE"),
        (("--closed-since", "last tuesday"), "--closed-since: not a date or time"),
    ],
)
def test_verify_refuses_what_it_cannot_read(args: tuple[str, ...], message: str) -> None:
    result = aftersales("audit", "verify", *args)

    assert result.returncode == 2
    assert message in result.stderr
    assert "tuesday" not in result.stderr  # the caller's value is not echoed


@pytest.mark.parametrize("story", ["return-no-reason-happy-path", "complaint-merchant-silent"])
async def test_an_exported_case_is_a_policy_test_that_passes(
    env: WorkflowEnvironment, outbox: Outbox, deferred: Deferred, tmp_path: Path, story: str
) -> None:
    case_id = await _case(env, deferred, story)
    target = tmp_path / "case.yaml"

    exported = aftersales("case", "export", case_id, "--as-scenario", "--out", str(target), env=_env(env, tmp_path))

    assert exported.returncode == 0, exported.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # the case's personal data
    scenario = load_scenario(target)
    assert scenario.case_id == case_id and scenario.events and scenario.expect is not None
    assert scenario.expect.state is not None and scenario.expect.effects
    tested = aftersales("policy", "test", str(target), env=_env(env, tmp_path))
    assert tested.returncode == 0, tested.stdout + tested.stderr


async def test_an_exported_scenario_fails_when_the_outcome_is_changed(
    env: WorkflowEnvironment, outbox: Outbox, deferred: Deferred, tmp_path: Path
) -> None:
    case_id = await _case(env, deferred, "return-no-reason-happy-path")
    target = tmp_path / "case.yaml"
    aftersales("case", "export", case_id, "--as-scenario", "--out", str(target), env=_env(env, tmp_path))
    text = target.read_text(encoding="utf-8")
    assert "amount: 299" in text
    target.write_text(text.replace("amount: 299", "amount: 300"), encoding="utf-8")

    tested = aftersales("policy", "test", str(target), env=_env(env, tmp_path))

    assert tested.returncode == 1
