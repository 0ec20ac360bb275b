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


def _restocking_fee(tmp_path: Path) -> Path:
    """A draft that keeps 10 % of every return refund (the exchange and repair loops unchanged)."""
    draft = tmp_path / "fee"
    shutil.copytree(ROOT / "policies", draft, ignore=shutil.ignore_patterns("tests"))
    returns = draft / "returns.yaml"
    text = returns.read_text(encoding="utf-8")
    full = "else case.item.price * case.item.quantity"
    assert text.count(full) == 2
    returns.write_text(text.replace(full, "else case.item.price * case.item.quantity * 0.9"), encoding="utf-8")
    return draft


def test_a_refund_amount_change_is_shown_per_case_and_in_total(tmp_path: Path) -> None:
    happy = SCENARIOS / "return-no-reason-happy-path.yaml"  # one item at 299.00, refunded on receipt
    result = aftersales("simulate", "--compare", "policies", str(_restocking_fee(tmp_path)), "--json", str(happy))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    [change] = report["changed"]
    # The same states and actions: only the money differs, and the comparison says so.
    assert change["changes"] == [{"field": "refund amount", "old": "299.00", "new": "269.10"}]
    assert report["money"] == [{"action": "refund", "old": "299.00", "new": "269.10"}]

    table = aftersales("simulate", "--compare", "policies", str(_restocking_fee(tmp_path / "again")), str(happy))
    assert table.returncode == 0, table.stderr
    assert "refund: 299.00 -> 269.10 in total" in table.stdout


def test_amounts_are_summed_to_the_cent_per_kind_of_payment() -> None:
    from policy_engine.testing.simulator import ActionRecord, money_by_action

    at = dt.datetime(2026, 11, 3, tzinfo=dt.UTC)

    def paid(kind: str, amount: object) -> ActionRecord:
        return ActionRecord(at=at, type=kind, params={"amount": amount}, key=f"C-1/1/{kind}")

    actions = [paid("refund", 0.1), paid("refund", 0.1), paid("refund", "0.10"), paid("advance_payment", 50)]
    actions += [paid("refund", "not a number"), paid("refund", True), paid("notify", None)]
    assert money_by_action(actions) == {"advance_payment": "50.00", "refund": "0.30"}
