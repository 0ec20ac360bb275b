"""`aftersales risk check` as an operator runs it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.cli import aftersales
from tests.risk.test_watch import AS_OF, GeneratedCase, write


def test_check_prints_each_merchant_and_the_rules_it_crosses(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    day = AS_OF - dt.timedelta(days=1)
    # M-bad: 12 complaints of 12 cases; M-good: 12 returns, all on time; M-old: complaints before the window.
    cases = [GeneratedCase(f"B-{n}", "M-bad", "complaint", day, ["breached"], [2]) for n in range(12)]
    cases += [GeneratedCase(f"G-{n}", "M-good", "return", day, ["met"], [5]) for n in range(12)]
    cases += [GeneratedCase(f"O-{n}", "M-old", "complaint", AS_OF - dt.timedelta(days=31)) for n in range(12)]
    write(url, cases)
    result = aftersales(
        "risk", "check", "--as-of", "2026-12-01", "--database", url, env={"AFTERSALES_TIMEZONE": "Asia/Shanghai"}
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if line.startswith("│")}
    assert set(rows) == {"M-bad", "M-good"}
    assert "many-complaints, complaint-share, late-handling, low-satisfaction" in rows["M-bad"]
    assert "  many-complaints: complaints >= 10" in result.stdout.splitlines()
    assert "100.0%" in rows["M-good"] and "complaints" not in rows["M-good"]
    assert "1 of 2 merchants cross a rule" in result.stdout
    assert "2026-11-01 00:00:00 +08:00 to 2026-12-01 00:00:00 +08:00" in result.stdout


def test_bad_options_are_named_not_echoed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    result = aftersales("risk", "check", "--as-of", "next-tuesday", "--database", url)
    assert result.returncode == 2
    assert result.stderr.startswith("--as-of is not a time") and "next-tuesday" not in result.stderr
    result = aftersales("risk", "check", "--database", "mysql://secret@db/x")
    assert result.returncode == 2
    assert "--database: unsupported database" in result.stderr and "secret" not in result.stderr


def test_broken_rules_are_refused_at_file_line_col(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    (policies / "compliance").mkdir(parents=True)
    (policies / "compliance" / "merchant_risk.yaml").write_text(
        "window: 30d\nmin_cases: ten\nrules: []\n", encoding="utf-8"
    )
    result = aftersales(
        "risk", "check", "--policies", str(policies), "--database", f"sqlite:///{tmp_path / 'l.sqlite3'}"
    )
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        f"{policies}/compliance/merchant_risk.yaml:2:12: min_cases is a whole number, 0 or more",
        f"{policies}/compliance/merchant_risk.yaml:3:8: rules is a list of at least one rule",
    ]
