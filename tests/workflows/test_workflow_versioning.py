"""The rule for changing workflow code (docs/changing-the-workflow.md) is kept: every patch id is used,
unique and documented, and the replay corpus keeps histories of an earlier release."""

from __future__ import annotations

from tests.conftest import ROOT
from workflows import contract

PATCHES = {name: value for name, value in vars(contract).items() if name.startswith("PATCH_")}


def test_patch_ids_are_unique_used_and_documented() -> None:
    assert PATCHES, "no patch ids: the rule's table and this test are out of date"
    assert len(set(PATCHES.values())) == len(PATCHES)
    workflow_code = (ROOT / "workflows" / "case_workflow.py").read_text(encoding="utf-8")
    rule = (ROOT / "docs" / "changing-the-workflow.md").read_text(encoding="utf-8")
    for name, value in PATCHES.items():
        assert f"workflow.patched({name})" in workflow_code, f"{name} is declared but never asked"
        assert f"`{value}`" in rule, f"{value} is missing from docs/changing-the-workflow.md"


def test_the_corpus_holds_histories_of_an_earlier_release() -> None:
    histories = ROOT / "tests" / "histories"
    assert list(histories.glob("release-1-*.json")), "keep the histories an earlier release recorded"
