"""Shared fixtures: the default policy set, loaded once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy_engine.language import PolicySet, load_policy_set

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SCENARIOS = POLICIES / "tests"


@pytest.fixture(scope="session")
def policy_set() -> PolicySet:
    return load_policy_set([POLICIES])
