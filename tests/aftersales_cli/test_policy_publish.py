"""The operator's workflow on a draft folder: draft, check, publish (atomic), roll back; any folder works."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aftersales_cli.publish import PublishError, Staged, _exchange, stage, swap_in
from tests.cli import ROOT, aftersales

REWORDED = "is on its way back to your original payment method"


def _reword(folder: Path) -> None:
    """An edit every policy test still passes: a message worded differently (a new policy version)."""
    template = folder / "templates" / "refunded.en.j2"
    text = template.read_text(encoding="utf-8")
    template.write_text(text.replace("went back to the original payment method", REWORDED), encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with a copy of the default policies."""
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    return tmp_path


def test_draft_then_publish_swaps_the_live_folder(project: Path) -> None:
    made = aftersales("policy", "draft", cwd=project / "policies" / "tests")  # from a subfolder: same project
    assert made.returncode == 0, made.stderr
    assert (project / "draft" / "returns.yaml").is_file()
    _reword(project / "draft")

    published = aftersales("policy", "publish", cwd=project)
    assert published.returncode == 0, published.stdout + published.stderr
    assert REWORDED in (project / "policies" / "templates" / "refunded.en.j2").read_text(encoding="utf-8")
    kept = list((project / ".aftersales" / "policy-history").iterdir())
    assert len(kept) == 1 and REWORDED not in (kept[0] / "templates" / "refunded.en.j2").read_text(encoding="utf-8")
    assert not [p for p in project.iterdir() if p.name.startswith(".policies.")], "no staging copy left behind"

    again = aftersales("policy", "publish", cwd=project)
    assert again.returncode == 0 and "nothing to publish" in again.stdout


def test_a_broken_draft_is_not_published_and_is_named(project: Path) -> None:
    assert aftersales("policy", "draft", cwd=project).returncode == 0
    before = (project / "policies" / "returns.yaml").read_text(encoding="utf-8")
    returns = project / "draft" / "returns.yaml"
    returns.write_text(returns.read_text(encoding="utf-8") + "\nbroken: [\n", encoding="utf-8")
    refused = aftersales("policy", "publish", cwd=project)
    assert refused.returncode == 1
    assert "draft/returns.yaml:" in refused.stdout, refused.stdout  # the draft's path, not the staging copy's
    assert ".policies.publishing" not in refused.stdout + refused.stderr
    assert "not published" in refused.stderr
    assert (project / "policies" / "returns.yaml").read_text(encoding="utf-8") == before
    assert not (project / ".aftersales" / "policy-history").exists() or not any(
        (project / ".aftersales" / "policy-history").iterdir()
    )


def test_a_draft_whose_policy_tests_fail_is_not_published(project: Path) -> None:
    assert aftersales("policy", "draft", cwd=project).returncode == 0
    returns = project / "draft" / "returns.yaml"
    text = returns.read_text(encoding="utf-8")
    returns.write_text(text.replace("after: 48h", "after: 1h", 1), encoding="utf-8")
    refused = aftersales("policy", "publish", cwd=project)
    assert refused.returncode == 1
    assert "FAIL" in refused.stdout and "do not pass" in refused.stderr
    assert "after: 48h" in (project / "policies" / "returns.yaml").read_text(encoding="utf-8")


def test_dry_run_changes_nothing(project: Path) -> None:
    assert aftersales("policy", "draft", cwd=project).returncode == 0
    _reword(project / "draft")
    dry = aftersales("policy", "publish", "--dry-run", cwd=project)
    assert dry.returncode == 0 and "would be published" in dry.stdout, dry.stdout + dry.stderr
    assert REWORDED not in (project / "policies" / "templates" / "refunded.en.j2").read_text(encoding="utf-8")


def test_a_draft_inside_the_live_folder_is_refused(project: Path) -> None:
    refused = aftersales("policy", "draft", str(project / "policies" / "draft"), cwd=project)
    assert refused.returncode == 2 and "inside the live folder" in refused.stderr
    with pytest.raises(PublishError, match="is the live folder itself"):
        stage(project / "policies", project / "policies")


def test_the_swap_is_one_exchange(tmp_path: Path) -> None:
    live, copy = tmp_path / "policies", tmp_path / ".policies.new"
    live.mkdir()
    copy.mkdir()
    (live / "which").write_text("old")
    (copy / "which").write_text("new")
    if not _exchange(live, copy):
        pytest.skip("this file system has no atomic exchange; publish uses two renames here")
    assert (live / "which").read_text() == "new" and (copy / "which").read_text() == "old"
    kept = swap_in(Staged(live=live, copy=copy), tmp_path)  # and back again, keeping the displaced set
    assert (live / "which").read_text() == "old" and (kept / "which").read_text() == "new"


def test_commands_find_the_project_from_a_subfolder_and_say_which(project: Path) -> None:
    sub = project / "policies" / "templates"
    validated = aftersales("policy", "validate", cwd=sub)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert str(project / "policies") in validated.stderr  # which folder was checked
    no_outbox = aftersales("outbox", cwd=sub)
    assert no_outbox.returncode == 1
    assert "no outbox at" in no_outbox.stderr and str(project) in no_outbox.stderr
    elsewhere = aftersales("policy", "validate", cwd=project.parent, env={"AFTERSALES_HOME": str(project)})
    assert elsewhere.returncode == 0, elsewhere.stdout + elsewhere.stderr
