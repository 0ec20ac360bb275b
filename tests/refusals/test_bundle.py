"""`aftersales audit show` lists the case's refused attempts from the ledger: who, what, when, why;
the page shows whatever a caller chose (an update id) as text."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.cli import ROOT, aftersales
from tests.principal import CUSTOMER_NAME, process_env
from tests.refusals.live import MARKUP_ID, PHONE, RefusedCase


def _show(case: RefusedCase, folder: Path, *args: str) -> str:
    history = folder / "history.json"
    history.write_text(case.history_json, encoding="utf-8")
    out = folder / "bundle"
    env = {"AFTERSALES_HOME": str(ROOT), **process_env(folder)}
    result = aftersales(
        "audit", "show", "--history", str(history), "--database", case.database_url, *args, "--out", str(out), env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    return out.read_text(encoding="utf-8")


def test_the_json_bundle_lists_each_refused_attempt_without_its_data(case: RefusedCase, tmp_path: Path) -> None:
    text = _show(case, tmp_path)
    attempts = {a["update_id"]: a for a in json.loads(text)["refused_attempts"]}

    assert {update_id: a["reason"] for update_id, a in attempts.items()} == case.refused
    assert attempts["wrong-role"]["principal"] == CUSTOMER_NAME
    assert attempts["wrong-role"]["principal_from"].startswith("token claims (unchecked")
    assert (attempts[MARKUP_ID]["event"], attempts[MARKUP_ID]["role"]) == ("no_such_event", "merchant")
    # In the zone of the return policy's calendar (cn-mainland), with its offset.
    assert all(a["at"].endswith("+08:00") and a["data_size"] > 0 for a in attempts.values())
    assert PHONE not in text


def test_the_page_shows_the_refused_attempts_escaped(case: RefusedCase, tmp_path: Path) -> None:
    page = _show(case, tmp_path, "--format", "html")

    assert "Refused attempts" in page
    assert MARKUP_ID not in page
    assert "&lt;script&gt;alert(&#x27;refused&#x27;)&lt;/script&gt;" in page
    assert "may not act as merchant" in page and CUSTOMER_NAME in page
    # Each attempt's kind, in its own column: the wrong role is the caller's grant refusing it.
    assert "<th>kind</th>" in page and "<td>caller_refused</td>" in page


def test_without_a_ledger_the_bundle_says_the_refusals_are_unknown(case: RefusedCase, tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'none' / 'ledger.sqlite3'}"
    history = tmp_path / "history.json"
    history.write_text(case.history_json, encoding="utf-8")
    env = {"AFTERSALES_HOME": str(ROOT), **process_env(tmp_path)}

    result = aftersales("audit", "show", "--history", str(history), "--database", missing, env=env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["refused_attempts"] is None
    assert not (tmp_path / "none").exists()  # reading never creates a ledger
