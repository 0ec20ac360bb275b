"""The validator on a corpus of broken policies: one mistake each, reported at its FILE:LINE:COL.

Each `tests/broken_policies/NN-*.yaml` states its mistake and where it is (`# expect: LINE:COL: text`);
folders hold a policy with its templates and an `expect.txt` (`FILE:LINE:COL: text`, FILE relative to
the folder). Every case is validated together with `_base/` (a calendar and templates).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from policy_engine.loader import load_policy_set
from policy_engine.problems import PolicyError
from tests.cli import aftersales

CORPUS = Path(__file__).parent / "broken_policies"
BASE = CORPUS / "_base"
CASES = sorted(p for p in CORPUS.iterdir() if p.name[:2].isdigit())
_EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$", re.MULTILINE)


def expectation(case: Path) -> tuple[Path, int, int, str]:
    if case.is_dir():
        file, line, col, text = (case / "expect.txt").read_text(encoding="utf-8").strip().split(":", 3)
        return case / file, int(line), int(col), text.strip()
    match = _EXPECT.search(case.read_text(encoding="utf-8"))
    assert match, f"{case.name} has no `# expect: LINE:COL: message` line"
    return case, int(match[1]), int(match[2]), match[3].strip()


def test_corpus_is_large_enough_and_every_case_says_what_it_expects() -> None:
    assert len(CASES) >= 40
    for case in CASES:
        expectation(case)


def test_the_valid_base_passes() -> None:
    load_policy_set([BASE, CORPUS / "_valid.yaml"])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_mistake_is_found_where_it_is(case: Path) -> None:
    file, line, col, text = expectation(case)
    with pytest.raises(PolicyError) as info:
        load_policy_set([BASE, case])
    problems = [(Path(p.file).resolve(), p.line, p.col, p.message) for p in info.value.problems]
    at_place = [m for f, ln, c, m in problems if f == file.resolve() and (ln, c) == (line, col)]
    assert any(text.lower() in m.lower() for m in at_place), "\n".join(str(p) for p in info.value.problems)


@pytest.mark.parametrize("name", ["12-goto-unknown-state.yaml", "01-yaml-syntax.yaml", "03-duplicate-key.yaml"])
def test_the_command_prints_file_line_col_and_exits_1(name: str) -> None:
    result = aftersales("policy", "validate", str(BASE), str(CORPUS / name))
    assert result.returncode == 1
    _, line, col, text = expectation(CORPUS / name)
    assert any(
        ln.startswith(f"tests/broken_policies/{name}:{line}:{col}: ") and text.lower() in ln.lower()
        for ln in result.stdout.splitlines()
    ), result.stdout


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    two = tmp_path / "two.yaml"
    text = (CORPUS / "_valid.yaml").read_text(encoding="utf-8")
    two.write_text(text.replace("take: working", "take: workin").replace("escalate: late", "escalate: later"))
    with pytest.raises(PolicyError) as info:
        load_policy_set([BASE, two])
    messages = " | ".join(p.message for p in info.value.problems)
    assert "workin" in messages and "later" in messages


def test_usage_error_exits_2() -> None:
    assert aftersales("policy", "validate", "--no-such-option").returncode == 2
