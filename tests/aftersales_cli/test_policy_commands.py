"""The operator's commands on the default policies: validate, show, graph, diff, schema, generated docs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from aftersales_cli.docs_gen import generated
from policy_engine.language import PolicySet, load_policy_set
from tests.cli import ROOT, aftersales


def test_default_policies_validate() -> None:
    result = aftersales("policy", "validate")
    assert result.returncode == 0, result.stdout
    assert "ok:" in result.stderr


def test_every_loop_of_the_product_is_defined(policy_set: PolicySet) -> None:
    assert set(policy_set.case_types) == {"return", "refund_only", "exchange", "repair", "complaint", "merchant_review"}


def test_generated_docs_and_schemas_are_up_to_date() -> None:
    for path, text in generated().items():
        assert (ROOT / path).read_text(encoding="utf-8") == text, f"{path} is stale: run `make docs`"


def test_default_files_point_editors_at_the_schema() -> None:
    for path in [*ROOT.glob("policies/*.yaml"), *ROOT.glob("policies/overrides/*.yaml")]:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("=", 1)[1]).resolve()
        assert target.exists(), f"{path} points at a missing schema {target}"


def test_show_resolves_the_merchant_override() -> None:
    default = aftersales("policy", "show", "return", "--json")
    m1501 = aftersales("policy", "show", "return", "--merchant", "M-1501", "--json")
    a, b = json.loads(default.stdout), json.loads(m1501.stdout)
    assert a["policy"] == "return-default"
    assert b["policy"] == "return-merchant-m1501-15day"
    assert b["content"]["windows"]["no_reason_return"]["length"] == "15 calendar days"
    # The override inherits everything else, e.g. the 48 h merchant decision timer.
    assert b["content"]["states"]["awaiting_merchant"]["timers"]["merchant_decision"]["after"] == "48h"
    assert re.fullmatch(r"[0-9a-f]{64}", b["version"]) and a["version"] != b["version"]


def test_graph_draws_every_state_and_event() -> None:
    result = aftersales("policy", "graph", "complaint")
    assert result.returncode == 0
    text = result.stdout
    assert text.startswith("%% complaint-default") and "stateDiagram-v2" in text
    for state in ("received", "investigating", "awaiting_decision", "mediation", "referred_to_regulator"):
        assert state in text
    assert "mediation --> referred_to_regulator : after 45 working days [mediation_deadline]" in text


def _edited_copy(tmp_path: Path, old: str, new: str) -> Path:
    copy = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", copy, ignore=shutil.ignore_patterns("tests"))
    returns = copy / "returns.yaml"
    text = returns.read_text(encoding="utf-8")
    assert old in text
    returns.write_text(text.replace(old, new, 1), encoding="utf-8")
    return copy


def test_diff_names_changes_in_operator_terms(tmp_path: Path) -> None:
    edited = _edited_copy(tmp_path, "after: 48h  ", "after: 72h  ")
    result = aftersales("policy", "diff", "policies", str(edited), "--json")
    assert result.returncode == 1
    changes = json.loads(result.stdout)
    timers = {(c["policy"], c["what"], c["old"], c["new"]) for c in changes}
    assert ("return-default", "timer awaiting_merchant.merchant_decision", "48h", "72h") in timers
    assert all(c["area"] == "timer" for c in changes)
    same = aftersales("policy", "diff", "policies", "policies")
    assert same.returncode == 0 and "no changes" in same.stdout


def test_diff_reports_new_rules_and_states(tmp_path: Path) -> None:
    edited = _edited_copy(
        tmp_path,
        "          - id: not-received\n",
        "          - id: vip-goodwill\n            if: case.customer.tier == 'vip'\n"
        "            then: {outcome: eligible, reason: goodwill}\n          - id: not-received\n",
    )
    changes = json.loads(aftersales("policy", "diff", "policies", str(edited), "--json").stdout)
    whats = {c["what"] for c in changes if c["policy"] == "return-default"}
    assert "rule eligibility: vip-goodwill added" in whats
    assert "rule eligibility: not-received" in whats  # moved down one row


def test_loading_the_same_files_twice_gives_the_same_versions() -> None:
    # Versions are content hashes that cases pin: loading must not depend on order, time or caches.
    # (Speed is measured by bench/policy_load.py, never asserted in a test.)
    a, b = load_policy_set([ROOT / "policies"]), load_policy_set([ROOT / "policies"])
    assert {k: v.version for k, v in a.policies.items()} == {k: v.version for k, v in b.policies.items()}


def test_schema_command_prints_the_checked_in_schema() -> None:
    result = aftersales("policy", "schema")
    assert json.loads(result.stdout) == json.loads((ROOT / "schema/policy.schema.json").read_text())
