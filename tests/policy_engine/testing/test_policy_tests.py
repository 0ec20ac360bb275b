"""The default policies' policy tests, one pytest test per scenario file with its `expect`.

`aftersales policy test` runs the same files for operators; here a plain `pytest` catches an engine
regression too, with the scenario's own failure messages.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine.language import PolicySet
from policy_engine.testing import load_scenario, run_scenario, scenario_files
from tests.conftest import SCENARIOS

FILES = scenario_files([SCENARIOS])


def test_every_policy_test_says_what_it_expects() -> None:
    assert len(FILES) >= 80
    for path in FILES:
        assert load_scenario(path).expect is not None, f"{path.name} has no `expect`"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_policy_test(path: Path, policy_set: PolicySet) -> None:
    result = run_scenario(policy_set, load_scenario(path))
    assert result.error is None, result.error
    assert result.passed, "\n".join(result.failures)
