"""Shared fixtures: the default policy set, loaded once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from policy_engine.loader import load_policy_set
from policy_engine.selection import PolicySet

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
SCENARIOS = POLICIES / "tests"

# Commands and generated docs use paths relative to the project root.
os.chdir(ROOT)


@pytest.fixture(scope="session")
def policy_set() -> PolicySet:
    return load_policy_set([POLICIES])
