"""The broken-policy corpus as the language tests use it: `_valid.yaml`, edits of it, and the
problems a policy has as the operator reads them (`LINE:COL: message`)."""

from __future__ import annotations

from pathlib import Path

from policy_engine.language import PolicyError, load_policy_set
from tests.conftest import ROOT

CORPUS = ROOT / "tests" / "broken_policies"
BASE = CORPUS / "_base"  # the calendar and templates every corpus policy is checked with
VALID = (CORPUS / "_valid.yaml").read_text(encoding="utf-8")


def edit(*changes: tuple[str, str]) -> str:
    """`_valid.yaml` with each `(old, new)` made; each `old` must be there exactly once."""
    text = VALID
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def problems_of(*paths: Path, with_file: bool = False) -> list[str]:
    """`LINE:COL: message` of each problem of the policies at `paths` (checked with `_base/`), or
    `FILE:LINE:COL: message` with the file's name; none when they load."""
    try:
        load_policy_set([BASE, *paths])
    except PolicyError as error:
        return [
            (f"{Path(p.file).name}:" if with_file else "") + f"{p.line}:{p.col}: {p.message}" for p in error.problems
        ]
    return []


def problems(tmp_path: Path, text: str) -> list[str]:
    """`LINE:COL: message` of each problem of the policy `text`; none when it loads."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(text, encoding="utf-8")
    return problems_of(policy)
