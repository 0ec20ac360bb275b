"""AFTERSALES_CALLERS and AFTERSALES_GRANTS: deny by default, and a worker that would check callers
against no grants file refuses to start; dev mode makes a local principal once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import worker
from policy_engine.language.model import ROLES
from service import Settings
from service.identity import load_grants, load_private_key, mint, opening, verify
from service.identity.devmode import DEV_PRINCIPAL, dev_key_file, ensure_dev_principal
from tests.conftest import POLICIES
from worker import run_worker

TYPES = ["complaint", "exchange", "refund_only", "repair", "return"]


def test_callers_are_signed_by_default(tmp_path: Path) -> None:
    settings = Settings.from_env({"AFTERSALES_HOME": str(tmp_path)})
    assert settings.callers == "signed"
    assert settings.grants_path == str(tmp_path / "grants.yaml")
    assert Settings.from_env({"AFTERSALES_CALLERS": "open"}).callers == "open"
    with pytest.raises(ValueError, match="AFTERSALES_CALLERS must be signed or open"):
        Settings.from_env({"AFTERSALES_CALLERS": "none"})


async def test_a_worker_with_signed_callers_and_no_grants_file_refuses_to_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "configure_logging", lambda _format: None)  # keep the session's logging
    settings = Settings(
        policy_dir=str(POLICIES), grants_path=str(tmp_path / "grants.yaml"), log_format="console", home=str(tmp_path)
    )
    assert await run_worker(settings) == 1
    said = capsys.readouterr().err
    assert "refusing to start" in said and "no grants file" in said and "AFTERSALES_GRANTS" in said


def test_dev_mode_makes_the_cli_principal_once(tmp_path: Path) -> None:
    grants = tmp_path / "grants.yaml"
    made = ensure_dev_principal(tmp_path, grants, TYPES)
    assert made is not None and DEV_PRINCIPAL in made
    key = load_private_key(dev_key_file(tmp_path))
    loaded = load_grants(grants, case_types=TYPES)
    principal = loaded.get(DEV_PRINCIPAL)
    assert principal is not None and principal.roles == frozenset(ROLES) and principal.open_types == frozenset(TYPES)
    now = dt.datetime.now(dt.UTC)
    token = mint(DEV_PRINCIPAL, key, case_id="R-1", event=opening("return"), data={}, role="customer", now=now)
    assert verify(token, loaded, case_id="R-1", event=opening("return"), data={}, role="customer", now=now)
    before = grants.read_bytes()
    assert ensure_dev_principal(tmp_path, grants, TYPES) is None  # once: an existing file is left alone
    assert grants.read_bytes() == before
