"""`policies/compliance/targets.yaml`: the defaults, and every mistake as FILE:LINE:COL with nothing applied."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from policy_engine.language import PolicyError, load_policy_set
from reports import load_targets
from reports.targets import Targets, targets_path
from tests.cli import aftersales
from tests.conftest import POLICIES

CLOCKS = ["acknowledge", "resolve", "refund", "repair"]


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "targets.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as refused:
        load_targets(path, CLOCKS, display="targets.yaml")
    return [str(p) for p in refused.value.problems]


def test_the_shipped_targets_are_the_platform_commitments() -> None:
    targets = load_targets(targets_path(POLICIES), CLOCKS)
    assert targets.sla.on_time_rate == 0.9
    assert {name: t.on_time_rate for name, t in targets.sla.clocks.items()} == dict.fromkeys(CLOCKS, 0.9)
    assert targets.satisfaction.satisfaction_rate == 0.9
    assert targets.satisfaction.satisfied_score == 4


def test_without_a_file_the_defaults_apply(tmp_path: Path) -> None:
    assert load_targets(tmp_path / "missing.yaml") == Targets()


def test_every_mistake_is_reported_where_it_is_written(tmp_path: Path) -> None:
    text = (
        "sla:\n"
        "  on_time_rat: 0.9\n"
        "  clocks:\n"
        "    resolve: {on_time_rate: 90}\n"
        "    refund: {}\n"
        "satisfaction: {satisfied_score: 6}\n"
    )
    assert _problems(tmp_path, text) == [
        "targets.yaml:2:3: unknown key 'on_time_rat'; did you mean 'on_time_rate'?",
        "targets.yaml:4:29: on_time_rate: a rate is a share from 0 to 1 (90 % is 0.9)",
        "targets.yaml:5:13: missing required key 'on_time_rate'",
        "targets.yaml:6:33: satisfied_score: the follow-up's score is from 1 to 5",
    ]


def test_a_clock_no_policy_has_is_refused_with_the_likely_name(tmp_path: Path) -> None:
    assert _problems(tmp_path, "sla:\n  clocks:\n    acknowlege: {on_time_rate: 0.9}\n") == [
        "targets.yaml:3:5: no policy has an SLA clock 'acknowlege'; did you mean 'acknowledge'?"
    ]


def test_broken_yaml_is_a_positioned_problem(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, "sla: [\n")
    assert problem.startswith("targets.yaml:2:1: YAML syntax:")


def test_the_policy_loader_does_not_read_the_targets_as_a_policy() -> None:
    assert set(load_policy_set([POLICIES]).policies)  # it loads, targets.yaml included in the folder


def test_report_targets_checks_the_file_against_the_policies(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies, ignore=shutil.ignore_patterns("tests"))
    good = aftersales("report", "targets", "-p", str(policies))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "ok; on-time >= 90%, satisfaction >= 90%" in good.stderr

    targets_path(policies).write_text("sla:\n  clocks:\n    refnud: {on_time_rate: 0.95}\n", encoding="utf-8")
    bad = aftersales("report", "targets", "-p", str(policies))
    assert bad.returncode == 1
    assert bad.stdout.strip().endswith(
        "compliance/targets.yaml:3:5: no policy has an SLA clock 'refnud'; did you mean 'refund'?"
    )
    assert aftersales("policy", "validate", str(policies)).returncode == 0  # the policies stay valid
