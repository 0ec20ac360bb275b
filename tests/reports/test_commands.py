"""`aftersales report ...` as a user runs it: on a ledger filled by `simulate --record-to`, and refusals."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.cli import aftersales
from tests.conftest import POLICIES, SCENARIOS

WINDOW = ("--from", "2026-01-01", "--to", "2028-01-01")  # every scenario opens in 2026 or 2027


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'aftersales.sqlite3'}"
    done = aftersales("simulate", "--record-to", url, "--json", str(SCENARIOS), "-p", str(POLICIES))
    assert done.returncode == 0, done.stderr
    return url


def test_sla_report_as_json_counts_every_clock_of_the_scenarios(recorded: str) -> None:
    done = aftersales("report", "sla", *WINDOW, "--database", recorded, "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    by_clock = {row["keys"]["clock"]: row for row in report["rows"]}
    assert set(by_clock) == {"acknowledge", "resolve", "refund", "repair"}
    resolve = by_clock["resolve"]
    assert resolve["counts"]["met"] + resolve["counts"]["breached"] > 0
    (figure,) = resolve["figures"]
    assert figure["target"] == 0.9 and figure["verdict"] in ("met", "missed")


def test_only_the_html_page_carries_the_charts(recorded: str) -> None:
    as_json = aftersales("report", "sla", *WINDOW, "--database", recorded, "--format", "json")
    as_html = aftersales("report", "sla", *WINDOW, "--database", recorded, "--format", "html")
    assert as_json.returncode == 0 and as_html.returncode == 0, as_json.stderr + as_html.stderr
    assert json.loads(as_json.stdout)["charts"] is None  # not computed: nothing draws them
    assert as_html.stdout.count("<svg") == 4  # weekly on-time rate, slowest merchants and categories, histogram


def test_merchants_report_as_csv_has_one_line_per_merchant(recorded: str, tmp_path: Path) -> None:
    out = tmp_path / "merchants.csv"
    done = aftersales("report", "merchants", *WINDOW, "--database", recorded, "-f", "csv", "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert "M-1501" in {row["merchant"] for row in rows}
    assert {row["breach_rate verdict"] for row in rows} <= {"met", "missed", "no data"}
    assert "rows written to" in done.stderr


def test_a_window_without_cases_says_so(recorded: str) -> None:
    done = aftersales("report", "satisfaction", "--from", "2030-01-01", "--to", "2030-02-01", "--database", recorded)
    assert done.returncode == 0, done.stderr
    assert "nothing to report: no case opened in this window was followed up" in done.stdout
    sla = aftersales("report", "sla", "--from", "2030-01-01", "--to", "2030-02-01", "--database", recorded)
    assert "nothing to report: no SLA clock of the cases opened in this window has started" in sla.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--from", "2026-13-01", "--to", "2027-01-01"), "--from: not a date; write YYYY-MM-DD"),
        (("--from", "2027-01-01", "--to", "2026-01-01"), "--to must be after --from"),
        ((*WINDOW, "--by", "colour"), "--by: use one of merchant, category, priority, case_type, channel"),
        ((*WINDOW, "--format", "pdf"), "--format: use one of table, json, csv, html"),
    ],
)
def test_bad_options_are_refused_naming_the_option(recorded: str, args: tuple[str, ...], said: str) -> None:
    done = aftersales("report", "sla", *args, "--database", recorded)
    assert done.returncode == 2
    assert said in done.stderr
    assert done.stdout == ""


def test_a_missing_ledger_or_unusable_url_is_refused_without_its_password(tmp_path: Path) -> None:
    missing = aftersales("report", "sla", *WINDOW, "--database", f"sqlite:///{tmp_path / 'none.sqlite3'}")
    assert missing.returncode == 2
    assert "no ledger at" in missing.stderr
    assert not (tmp_path / "none.sqlite3").exists()  # a report creates nothing
    wrong = aftersales("report", "sla", *WINDOW, "--database", "mysql://root:hunter2@db/x")
    assert wrong.returncode == 2
    assert "--database: unsupported database 'mysql'" in wrong.stderr
    assert "hunter2" not in wrong.stdout + wrong.stderr
