"""The ledger on SQLite and PostgreSQL: migrations, and every fact written once however often it is sent."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ledger import migrate
from ledger.database import engine_for
from ledger.schema import metadata
from ledger.simulated import record_simulated, simulated_opening
from ledger.store import Ledger
from ledger.urls import DatabaseUrlError
from policy_engine.language import PolicySet
from policy_engine.testing import Scenario, SimulationResult
from tests.conftest import ROOT

Simulated = list[tuple[Scenario, SimulationResult]]
FACT_TABLES = ("cases", "transitions", "sla_clocks", "escalations", "referrals", "satisfaction", "refunds", "decisions")


def counts(ledger: Ledger) -> dict[str, int]:
    with ledger.engine.connect() as db:
        return {table: db.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one() for table in FACT_TABLES}


def expected_counts(simulated: Simulated) -> dict[str, int]:
    """From the timelines themselves, not through facts_of: what each table must hold.

    Two scenario files may simulate the same case id; the ledger keeps the first written.
    """
    first: dict[str, SimulationResult] = {}
    for _, result in simulated:
        if result.error is None:
            first.setdefault(result.case_id, result)
    opened = list(first.values())
    entries = [e for r in opened for e in r.timeline]
    return {
        "cases": len(opened),
        "transitions": sum(1 for e in entries if e["kind"] == "transition" and e["detail"].get("via")),
        "sla_clocks": sum(len({e["name"] for e in r.timeline if e["kind"] == "sla"}) for r in opened),
        "decisions": sum(1 for e in entries if e["kind"] == "decision" and e["detail"].get("rule")),
    }


def test_upgrade_creates_every_table_and_a_second_upgrade_changes_nothing(ledger: Ledger) -> None:
    assert migrate.current(ledger.engine) == migrate.head()
    tables = set(sa.inspect(ledger.engine).get_table_names())
    assert set(metadata.tables) <= tables
    ledger.upgrade()
    assert migrate.current(ledger.engine) == migrate.head()


def test_the_migrations_build_exactly_the_declared_schema(ledger: Ledger) -> None:
    with ledger.engine.connect() as db:
        differences = compare_metadata(MigrationContext.configure(db), metadata)
    assert differences == []


def test_each_simulated_case_lands_once_even_when_written_twice(
    ledger: Ledger, policy_set: PolicySet, simulated: Simulated
) -> None:
    for scenario, result in simulated:
        record_simulated(ledger, policy_set, scenario, result)
    first = counts(ledger)
    assert expected_counts(simulated).items() <= first.items()
    for scenario, result in simulated:
        record_simulated(ledger, policy_set, scenario, result)
    assert counts(ledger) == first


def test_a_case_written_in_batches_closes_and_totals_its_refunds(
    ledger: Ledger, policy_set: PolicySet, simulated: Simulated
) -> None:
    paid = [(s, r) for s, r in simulated if any(a.type == "refund" for a in r.actions) and r.closed]
    scenario, result = paid[0]
    opening = simulated_opening(policy_set, scenario, result)
    assert opening is not None
    middle = len(result.timeline) // 2
    ledger.record(opening, result.timeline[:middle])
    with ledger.engine.connect() as db:
        assert db.execute(sa.text("SELECT closed_at FROM cases")).scalar_one() is None
    ledger.record(opening, result.timeline[middle:], middle)
    ledger.record(opening, result.timeline[middle:], middle)  # a retry
    amounts = sum(a.params["amount"] for a in result.actions if a.type == "refund")
    with ledger.engine.connect() as db:
        row = db.execute(sa.text("SELECT final_state, refund_total FROM cases")).one()
    assert tuple(row) == (result.final_state, pytest.approx(amounts))


def test_writers_in_threads_write_each_fact_once(ledger: Ledger, policy_set: PolicySet, simulated: Simulated) -> None:
    failures: list[BaseException] = []

    def write_all() -> None:
        try:
            for scenario, result in simulated:
                record_simulated(ledger, policy_set, scenario, result)
        except BaseException as exc:  # reported below: a thread's exception is otherwise lost
            failures.append(exc)

    threads = [threading.Thread(target=write_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert expected_counts(simulated).items() <= counts(ledger).items()


WRITER = """
import sys
from pathlib import Path
from ledger.simulated import record_simulated
from ledger.store import Ledger
from policy_engine.language import load_policy_set
from policy_engine.testing import load_scenario, run_scenario, scenario_files
policies = load_policy_set([Path("policies")])
ledger = Ledger(sys.argv[1])
ledger.upgrade()
for path in scenario_files([Path("policies/tests")]):
    scenario = load_scenario(path, str(path))
    record_simulated(ledger, policies, scenario, run_scenario(policies, scenario))
"""


def test_two_processes_starting_at_once_upgrade_and_write_each_fact_once(
    database_url: str, simulated: Simulated
) -> None:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, database_url], cwd=ROOT, env=env, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    errors = [writer.communicate()[1].decode() for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], errors
    ledger = Ledger(database_url)
    try:
        assert expected_counts(simulated).items() <= counts(ledger).items()
        assert counts(ledger)["cases"] == expected_counts(simulated)["cases"]
    finally:
        ledger.close()


def test_a_sqlite_ledger_is_its_owners_only(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'private' / 'ledger.sqlite3'}")
    ledger.upgrade()
    ledger.close()
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o700
    for name in ("ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm"):
        path = tmp_path / "private" / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mysql://root:hunter2@db/x", "unsupported database 'mysql'"),
        ("sqlite://", "a SQLite database needs a file"),
        ("not a url at all hunter2", "not a database URL"),
    ],
)
def test_an_unusable_url_is_refused_without_repeating_it(url: str, reason: str) -> None:
    with pytest.raises(DatabaseUrlError) as refused:
        engine_for(url)
    assert str(refused.value).startswith(reason)
    assert "hunter2" not in str(refused.value)
