"""`aftersales simulate --record-to`, `aftersales ledger upgrade|tables`, and the AFTERSALES_DATABASE_URL setting."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger import migrate
from ledger.store import Ledger
from service.settings import Settings
from tests.cli import aftersales
from tests.conftest import POLICIES, SCENARIOS


def test_simulate_record_to_fills_a_ledger_with_every_scenario(database_url: str) -> None:
    done = aftersales("simulate", "--record-to", database_url, "--json", str(SCENARIOS), "-p", str(POLICIES))
    assert done.returncode == 0, done.stderr
    ledger = Ledger(database_url)
    try:
        with ledger.engine.connect() as db:
            case_ids = db.execute(sa.text("SELECT case_id FROM cases")).scalars().all()
            clocks = db.execute(sa.text("SELECT COUNT(*) FROM sla_clocks WHERE status = 'met'")).scalar_one()
    finally:
        ledger.close()
    scenario_ids = {
        line.split(":", 1)[1].strip()
        for p in SCENARIOS.glob("*.yaml")
        for line in p.read_text().splitlines()
        if line.startswith("case_id:")
    }
    assert set(case_ids) == scenario_ids
    assert clocks > 0
    files = len(list(SCENARIOS.glob("*.yaml")))
    assert f"recorded {files} cases" in done.stderr  # one per scenario file


def test_simulate_refuses_a_database_it_cannot_use_and_keeps_its_password(tmp_path: Path) -> None:
    done = aftersales("simulate", "--record-to", "mysql://root:hunter2@db/x", str(SCENARIOS), "-p", str(POLICIES))
    assert done.returncode == 2
    assert "--record-to: unsupported database 'mysql'" in done.stderr
    assert "hunter2" not in done.stdout + done.stderr


def test_ledger_upgrade_says_what_it_did_and_tables_lists_the_columns(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    first = aftersales("ledger", "upgrade", cwd=tmp_path)
    again = aftersales("ledger", "upgrade", cwd=tmp_path)
    assert first.returncode == again.returncode == 0, first.stderr
    assert f"upgraded from an empty database to revision {migrate.head()}" in first.stdout
    assert f"already at revision {migrate.head()}" in again.stdout
    assert (tmp_path / ".aftersales" / "aftersales.sqlite3").exists()
    listed = aftersales("ledger", "tables").stdout
    for word in ("sla_clocks", "running_seconds", "satisfaction", "responded", "effects", "report_key"):
        assert word in listed


def test_an_unreachable_database_is_named_without_its_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://aftersales:hunter2@127.0.0.1:1/ledger?connect_timeout=2"
    done = aftersales("ledger", "upgrade", env={"AFTERSALES_DATABASE_URL": url})
    assert done.returncode == 1
    assert "could not be used" in done.stderr and "***" in done.stderr
    assert "hunter2" not in done.stdout + done.stderr


def test_the_default_ledger_is_a_sqlite_file_in_the_project_folder(tmp_path: Path) -> None:
    settings = Settings.from_env({"AFTERSALES_HOME": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / '.aftersales' / 'aftersales.sqlite3'}"
    named = Settings.from_env(
        {"AFTERSALES_HOME": str(tmp_path), "AFTERSALES_DATABASE_URL": "postgresql+psycopg://u@h/db"}
    )
    assert named.database_url == "postgresql+psycopg://u@h/db"


def test_a_wrong_database_url_names_the_variable_not_the_value(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as refused:
        Settings.from_env({"AFTERSALES_HOME": str(tmp_path), "AFTERSALES_DATABASE_URL": "oracle://u:hunter2@h/x"})
    assert str(refused.value).startswith("AFTERSALES_DATABASE_URL: unsupported database 'oracle'")
    assert "hunter2" not in str(refused.value)
