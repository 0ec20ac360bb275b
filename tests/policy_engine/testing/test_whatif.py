"""`aftersales simulate --compare`: an edit's effect on past cases, before it is published."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

from policy_engine.testing import load_scenario, scenario_files
from tests.cli import ROOT, aftersales
from tests.conftest import SCENARIOS


def _would_change(path: Path) -> bool:
    """Independently of the engine: a no-reason return or exchange opened on day 8 to 15 after sign-for,
    by a merchant without its own 15-day promise, is refused today and accepted with a 15-day window."""
    s = load_scenario(path)
    data = s.data
    delivered = data.get("order", {}).get("delivered_at")
    if s.case_type not in ("return", "exchange") or data.get("reason") != "no_reason" or delivered is None:
        return False
    if data.get("order", {}).get("merchant_id") == "M-1501" or data.get("converted_from"):
        return False
    if data.get("item", {}).get("category") in ("customised", "fresh", "digital_content", "periodical"):
        return False
    signed = dt.datetime.fromisoformat(str(delivered)).astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    opened = s.opened_at.astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    return 8 <= (opened - signed).days <= 15


def test_fifteen_day_window_changes_exactly_the_late_no_reason_cases(tmp_path: Path) -> None:
    wide = tmp_path / "wide"
    shutil.copytree(ROOT / "policies", wide, ignore=shutil.ignore_patterns("tests"))
    returns = wide / "returns.yaml"
    text = returns.read_text(encoding="utf-8")
    returns.write_text(text.replace("length: 7 calendar days         # CPL 25", "length: 15 calendar days  # CPL 25"))

    result = aftersales("simulate", "--compare", "policies", str(wide), "--json", str(SCENARIOS))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    changed = {Path(c["scenario"]).name for c in report["changed"]}
    expected = {p.name for p in scenario_files([SCENARIOS]) if _would_change(p)}
    assert expected, "the policy tests should include a late no-reason return"
    assert changed == expected
    for change in report["changed"]:
        fields = {f["field"]: f for f in change["changes"]}
        assert fields["final_state"]["old"] == "rejected"


def test_compare_of_identical_sets_changes_nothing() -> None:
    result = aftersales("simulate", "--compare", "policies", "policies", "--json", str(SCENARIOS))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["changed"] == []
    assert report["total"] == len(scenario_files([SCENARIOS]))


def test_compare_prints_a_summary_table(tmp_path: Path) -> None:
    result = aftersales(
        "simulate", "--compare", "policies", "policies", str(SCENARIOS / "return-no-reason-happy-path.yaml")
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "0 of 1 scenarios change outcome; 1 unchanged"
    assert "what changes from" not in result.stdout  # no table when nothing changes


def test_compare_names_each_changed_scenario_and_field(tmp_path: Path) -> None:
    strict = tmp_path / "strict"
    shutil.copytree(ROOT / "policies", strict, ignore=shutil.ignore_patterns("tests"))
    returns = strict / "returns.yaml"
    text = returns.read_text(encoding="utf-8")
    returns.write_text(text.replace("length: 7 calendar days         # CPL 25", "length: 1 calendar days  # CPL 25"))
    happy = SCENARIOS / "return-no-reason-happy-path.yaml"
    result = aftersales("simulate", "--compare", "policies", str(strict), str(happy))
    assert result.returncode == 0, result.stderr
    assert "return-no-reason-happy-path" in result.stdout and "final_state" in result.stdout
    assert "refunded" in result.stdout and "rejected" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "1 of 1 scenarios change outcome; 0 unchanged"
