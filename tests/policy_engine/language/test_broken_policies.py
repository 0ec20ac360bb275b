"""The validator on a corpus of broken policies: one mistake each, reported at its FILE:LINE:COL.

Each `tests/broken_policies/NN-*.yaml` states its mistake in its first lines:

    # expect: LINE:COL: message substring
    # xfail: why the validator does not do this yet      (optional)

LINE:COL is where the mistake is in that same file. A folder `NN-*/` holds a policy with the files
it needs (templates) and an `expect.txt` with `# expect: FILE:LINE:COL: message substring` lines,
FILE relative to the folder. Every case is validated together with `_base/` (a calendar and
templates); `_valid.yaml` is the valid policy most cases are a copy of.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from policy_engine.language import PolicyError, load_policy_set
from tests.conftest import ROOT

CORPUS = ROOT / "tests" / "broken_policies"
BASE = CORPUS / "_base"
VALID = CORPUS / "_valid.yaml"
CASES = sorted((p for p in CORPUS.iterdir() if p.name[:2].isdigit()), key=lambda p: (int(p.name.split("-")[0]), p.name))

_FILE_EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$", re.MULTILINE)
_DIR_EXPECT = re.compile(r"^# expect: ([^:\s]+):(\d+):(\d+): (.+)$", re.MULTILINE)
_XFAIL = re.compile(r"^# xfail: (.+)$", re.MULTILINE)
_LINE_FORMAT = re.compile(r"^\S[^:]*:\d+:\d+: \S.*$")


@dataclass(frozen=True)
class Expectation:
    file: Path
    line: int
    col: int
    text: str

    def __str__(self) -> str:
        return f"{self.file.name}:{self.line}:{self.col}: {self.text}"


def header(case: Path) -> str:
    return (case / "expect.txt" if case.is_dir() else case).read_text(encoding="utf-8")


def expectations(case: Path) -> list[Expectation]:
    text = header(case)
    if case.is_dir():
        return [Expectation(case / f, int(ln), int(c), m.strip()) for f, ln, c, m in _DIR_EXPECT.findall(text)]
    return [Expectation(case, int(ln), int(c), m.strip()) for ln, c, m in _FILE_EXPECT.findall(text)]


def xfail_reason(case: Path) -> str | None:
    match = _XFAIL.search(header(case))
    return match[1].strip() if match else None


def _param(case: Path) -> object:
    reason = xfail_reason(case)
    marks = [pytest.mark.xfail(reason=f"validator bug: {reason}", strict=True)] if reason else []
    return pytest.param(case, id=case.name, marks=marks)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "aftersales_cli.main", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )


def test_corpus_is_large_enough_and_every_case_says_what_it_expects() -> None:
    assert len(CASES) >= 40
    for case in CASES:
        assert expectations(case), f"{case.name} has no `# expect: LINE:COL: message` line"
        for exp in expectations(case):
            assert exp.file.is_file(), f"{case.name}: {exp.file} does not exist"
            assert exp.line >= 1 and exp.col >= 1 and exp.text, f"{case.name}: bad expectation {exp}"


def test_the_valid_policy_passes() -> None:
    policy_set = load_policy_set([BASE, VALID])
    assert "ticket" in policy_set.policies


def test_the_valid_policy_passes_the_command() -> None:
    result = _cli("policy", "validate", str(BASE), str(VALID))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_each_mistake_is_found_where_it_is(case: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy_set([BASE, case])
    reported = "\n".join(str(p) for p in info.value.problems)
    for exp in expectations(case):
        assert any(
            Path(p.file).resolve() == exp.file.resolve()
            and str(p).endswith(f":{exp.line}:{exp.col}: {p.message}")
            and exp.text.lower() in p.message.lower()
            for p in info.value.problems
        ), f"expected {exp}\nreported:\n{reported}"


@pytest.mark.parametrize("name", ["12-goto-unknown-state.yaml", "01-yaml-syntax.yaml", "03-duplicate-key.yaml"])
def test_the_command_prints_file_line_col_and_exits_1(name: str) -> None:
    case = CORPUS / name
    result = _cli("policy", "validate", str(BASE.relative_to(ROOT)), str(case.relative_to(ROOT)))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert lines, output
    for ln in lines:
        assert _LINE_FORMAT.match(ln), f"not FILE:LINE:COL: message: {ln!r}"
    for exp in expectations(case):
        prefix = f"tests/broken_policies/{name}:{exp.line}:{exp.col}: "
        assert any(ln.startswith(prefix) and exp.text.lower() in ln.lower() for ln in lines), output


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    two = tmp_path / "two.yaml"
    text = VALID.read_text(encoding="utf-8")
    two.write_text(text.replace("take: working", "take: workin").replace("escalate: late", "escalate: later"))
    with pytest.raises(PolicyError) as info:
        load_policy_set([BASE, two])
    messages = " | ".join(p.message for p in info.value.problems)
    assert "workin" in messages and "later" in messages


def test_a_file_that_is_not_yaml_reports_only_its_own_mistake(tmp_path: Path) -> None:
    """Its policies and calendars are unknown, so references to them elsewhere are not reported as
    unknown (an override extending `return-default` when returns.yaml has a syntax error)."""
    import shutil

    folder = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", folder)
    returns = folder / "returns.yaml"
    returns.write_text(returns.read_text(encoding="utf-8") + "\nbroken: [\n", encoding="utf-8")
    calendar = folder / "calendars" / "cn-mainland.yaml"
    calendar.write_text("calendar: cn-mainland\n  bad indent: [\n", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy_set([folder])
    messages = [str(p) for p in info.value.problems]
    assert len(messages) == 2, messages
    assert all("YAML syntax" in m for m in messages), messages
