"""Every ledger test runs on both databases: an embedded SQLite file and a throwaway PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger.schema import metadata
from ledger.store import Ledger
from policy_engine.language import PolicySet
from policy_engine.testing import Scenario, SimulationResult, load_scenario, run_scenario, scenario_files
from tests.conftest import SCENARIOS
from tests.ledger.postgres import postgres_url

__all__ = ["postgres_url"]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or the session's PostgreSQL database emptied."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger' / 'aftersales.sqlite3'}"
        return
    url: str = request.getfixturevalue("postgres_url")
    _empty(url)
    yield url


def _empty(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as db:
        for table in [*metadata.tables, "alembic_version"]:
            db.execute(sa.text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    engine.dispose()


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    """A ledger at the newest schema."""
    store = Ledger(database_url)
    store.upgrade()
    yield store
    store.close()


@pytest.fixture(scope="session")
def simulated(policy_set: PolicySet) -> list[tuple[Scenario, SimulationResult]]:
    """Every policy test scenario of the default policies, run on the simulator."""
    scenarios = [load_scenario(path, str(path)) for path in scenario_files([SCENARIOS])]
    return [(scenario, run_scenario(policy_set, scenario)) for scenario in scenarios]
