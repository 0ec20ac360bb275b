"""Case files and `--data` as a person writes them: relative times, and mistakes named in their terms."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from aftersales_cli.case_files import InputError, parse_mapping, read_case_file
from tests.cli import aftersales
from tests.conftest import ROOT

NOW = dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC)
EXAMPLE = ROOT / "examples" / "return-case.yaml"


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "case.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_relative_times_resolve_against_now(tmp_path: Path) -> None:
    case = read_case_file(
        write(
            tmp_path,
            "case_type: return\ncase_id: R-1\nopened_at: -1h\n"
            "data: {order: {paid_at: -5d, delivered_at: -2d3h, shipped_at: 2026-11-20T09:00:00+08:00}, note: -2d}\n",
        ),
        NOW,
    )
    order = case.data["order"]
    assert case.opened_at == NOW - dt.timedelta(hours=1)
    assert order["paid_at"] == (NOW - dt.timedelta(days=5)).isoformat()
    assert order["delivered_at"] == (NOW - dt.timedelta(days=2, hours=3)).isoformat()
    assert order["shipped_at"] == "2026-11-20T09:00:00+08:00"  # absolute times pass through as ISO text
    assert case.data["note"] == "-2d"  # only `*_at` fields are times
    assert case.relative


def test_absolute_file_is_not_relative_and_reads_the_same_twice(tmp_path: Path) -> None:
    path = write(tmp_path, "case_type: return\ncase_id: R-1\ndata: {order: {paid_at: 2026-11-20T09:00:00+08:00}}\n")
    first, second = read_case_file(path, NOW), read_case_file(path, NOW + dt.timedelta(days=3))
    assert not first.relative
    assert first == second


def test_the_example_case_stays_inside_its_window() -> None:
    case = read_case_file(str(EXAMPLE), NOW)
    delivered = dt.datetime.fromisoformat(case.data["order"]["delivered_at"])
    assert dt.timedelta(0) < NOW - delivered < dt.timedelta(days=7)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("case_type: return\ncase_id: R-1\n", "missing data"),
        ("case_type: return\ncase_id: R-1\ndata: [1]\n", "data must be a mapping, not a list"),
        ("case_type: return\ncase_id: R-1\ndata: {}\ncolour: red\n", "unknown key colour"),
        ("case_type: return\ncase_id: ''\ndata: {}\n", "case_id must be a non-empty text"),
        ("case_type: return\ncase_id: R-1\ndata: {order: {paid_at: -2 days}}\n", "not a relative time"),
        ("case_type: return\ncase_id: R-1\nopened_at: yesterday\ndata: {}\n", "neither a date-time"),
        ("case_type: return\ncase_id: R-1\nopened_at: 2026-11-20T09:00:00\ndata: {}\n", "needs a UTC offset"),
        ("case_type: [return\n", "case.yaml:2:1: not valid YAML or JSON"),
        ("- a\n- b\n", "expected a mapping"),
    ],
)
def test_case_file_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_case_file(write(tmp_path, text), NOW)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{tracking: SF1", "--data:1:15: not valid YAML or JSON"),
        ("SF1", "--data: expected a mapping such as {tracking: SF1}, not text"),
        ("42", "not a number"),
        ("", "--data: empty"),
        ("{1: a}", "keys must be names"),
    ],
)
def test_data_option_mistakes_name_the_option(text: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_mapping(text, "--data")
    assert message in str(caught.value)


def test_commands_refuse_bad_input_before_reaching_a_server(tmp_path: Path) -> None:
    """No server runs here: each refusal must come from the input check, with exit 2 and no traceback."""
    missing = aftersales("case", "open", str(tmp_path / "nothere.yaml"))
    assert missing.returncode == 2
    assert "nothere.yaml: no such file" in missing.stderr
    assert "Errno" not in missing.stderr
    bad_data = aftersales("case", "event", "R-1", "return_shipped", "--role", "customer", "--data", "{tracking: SF1")
    assert bad_data.returncode == 2
    assert bad_data.stderr.strip().startswith("--data:1:15: not valid YAML or JSON")
    scalar = aftersales("case", "event", "R-1", "return_shipped", "--role", "customer", "--data", "SF1")
    assert scalar.returncode == 2
    assert "ValidationError" not in scalar.stderr and "pydantic" not in scalar.stderr
