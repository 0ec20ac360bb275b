"""The worker's side of the ledger: it refuses to start on a database it cannot use (saying which,
never its password), and `aftersales outbox` reads the effects where the worker writes them: the
ledger's database, or the file AFTERSALES_OUTBOX names when it is set."""

from __future__ import annotations

from pathlib import Path

import pytest

import worker
from activities.outbox import Outbox
from service import Settings
from tests.cli import aftersales
from tests.conftest import POLICIES
from worker import run_worker


async def test_a_worker_refuses_to_start_on_a_database_it_cannot_reach(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "configure_logging", lambda _format: None)  # keep the session's logging
    settings = Settings(
        policy_dir=str(POLICIES),
        callers="open",
        log_format="console",
        home=str(tmp_path),
        # Nothing listens on port 1: the connection is refused at once.
        database_url="postgresql+psycopg://aftersales:s3cret-pw@127.0.0.1:1/ledger",
    )
    assert await run_worker(settings) == 1
    said = capsys.readouterr().err
    assert "refusing to start: cannot use the ledger database" in said
    assert "aftersales:***@127.0.0.1:1/ledger" in said and "AFTERSALES_DATABASE_URL" in said
    assert "s3cret-pw" not in said and "Traceback" not in said
    assert len(said.strip().splitlines()) == 1


def test_ledger_off_and_the_outbox_setting() -> None:
    assert Settings.from_env({}).ledger is True
    assert Settings.from_env({"AFTERSALES_LEDGER": "off"}).ledger is False
    with pytest.raises(ValueError, match="AFTERSALES_LEDGER"):
        Settings.from_env({"AFTERSALES_LEDGER": "sometimes"})
    database = Settings.from_env({"AFTERSALES_DATABASE_URL": "sqlite:////tmp/x/ledger.sqlite3"})
    assert database.outbox_location == "sqlite:////tmp/x/ledger.sqlite3"
    kept = Settings.from_env({"AFTERSALES_OUTBOX": "/tmp/x/outbox.sqlite3"})
    assert kept.outbox_location == Path("/tmp/x/outbox.sqlite3")


def test_the_outbox_command_reads_where_the_worker_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'aftersales.sqlite3'}"
    Outbox(url).record("C-1/3/notify", "C-1", "return", "notify", {"template": "new_request", "to": ["merchant"]})
    env = {"AFTERSALES_HOME": str(tmp_path), "AFTERSALES_DATABASE_URL": url}

    shown = aftersales("outbox", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "C-1/3/notify" in shown.stdout and "new_request" in shown.stdout

    # AFTERSALES_OUTBOX set: the worker writes that file, so the command reads it (none here yet).
    elsewhere = aftersales("outbox", env={**env, "AFTERSALES_OUTBOX": str(tmp_path / "outbox.sqlite3")})
    assert elsewhere.returncode != 0
    assert "no outbox at" in elsewhere.stderr and "AFTERSALES_OUTBOX" in elsewhere.stderr
