"""`aftersales audit verify` counts the attempts a case refused (the ledger's refusal log) next to its
verdict, and lists them with their code and reason (never the data) with --verbose or as JSON."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cli import ROOT, aftersales
from tests.principal import process_env
from tests.refusals.live import MARKUP_ID, PHONE, RefusedCase


def _verify(
    case: RefusedCase, folder: Path, *args: str, database: str | None = None
) -> subprocess.CompletedProcess[str]:
    history = folder / "history.json"
    history.write_text(case.history_json, encoding="utf-8")
    env = {"AFTERSALES_HOME": str(ROOT), "AFTERSALES_TIMEZONE": "Asia/Shanghai", **process_env(folder)}
    database = database or case.database_url
    result = aftersales("audit", "verify", "--history", str(history), "--database", database, *args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert PHONE not in result.stdout + result.stderr  # the refused events' data is never shown
    return result


def test_the_verdict_counts_the_refused_attempts(case: RefusedCase, tmp_path: Path) -> None:
    result = _verify(case, tmp_path)

    assert f"{case.case_id} verified, 3 refused attempts" in result.stdout
    assert "caller refused" not in result.stdout  # the reasons only with --verbose


def test_verbose_lists_each_refused_attempt_with_its_code_and_reason(case: RefusedCase, tmp_path: Path) -> None:
    lines = _verify(case, tmp_path, "--verbose").stdout.splitlines()
    refused = [line for line in lines if line.startswith("  refused ")]

    assert len(refused) == 3
    for reason in case.refused.values():
        assert sum(reason in line for line in refused) == 1, (reason, refused)
    assert sum("[caller_refused]" in line for line in refused) == 2  # the wrong role, the bad token
    assert sum("[policy_refused]" in line for line in refused) == 1  # no_such_event
    assert all(" +08:00: submit_event " in line for line in refused)  # AFTERSALES_TIMEZONE, with its offset


def test_json_holds_each_case_with_its_refused_attempts(case: RefusedCase, tmp_path: Path) -> None:
    document = json.loads(_verify(case, tmp_path, "--format", "json").stdout)

    (verdict,) = document["cases"]
    assert verdict["case_id"] == case.case_id and verdict["verified"] and document["not_read"] == []
    attempts = {a["update_id"]: a for a in verdict["refused_attempts"]["attempts"]}
    assert verdict["refused_attempts"]["count"] == 3
    assert {update_id: a["reason"] for update_id, a in attempts.items()} == case.refused
    assert attempts["wrong-role"]["code"] == "caller_refused"
    assert attempts["bad-token"]["code"] == "caller_refused"
    assert attempts[MARKUP_ID]["code"] == "policy_refused"
    assert all(len(a["data_sha256"]) == 64 and "data" not in a for a in attempts.values())


def test_without_a_ledger_the_refused_attempts_are_unknown(case: RefusedCase, tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'none' / 'ledger.sqlite3'}"

    text = _verify(case, tmp_path, database=missing)
    document = json.loads(_verify(case, tmp_path, "--format", "json", database=missing).stdout)

    assert text.stdout.strip() == f"{case.case_id} verified"
    assert "refused attempts: unknown, no ledger here" in text.stderr
    assert document["cases"][0]["refused_attempts"] is None
    assert not (tmp_path / "none").exists()  # reading never creates a ledger


def test_a_format_it_does_not_know_is_refused(tmp_path: Path) -> None:
    result = aftersales("audit", "verify", "R-1", "--format", "yaml")

    assert result.returncode == 2
    assert "--format: text or json" in result.stderr
