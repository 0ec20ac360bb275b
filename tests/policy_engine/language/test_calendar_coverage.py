"""Calendars about to run out are said ahead of time: by `policy validate` (a warning, exit 0) and by
the worker when it adopts a set, at the calendar's `years:` key, with what to run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import structlog
from structlog.testing import capture_logs

from activities.policy_source import PolicySource
from policy_engine.language import load_policy_set
from policy_engine.language.calendar_coverage import coverage_notes
from tests.activities.test_activities import CALENDAR, POLICY
from tests.cli import aftersales
from tests.conftest import POLICIES

DEFAULT_SET = load_policy_set([POLICIES])
CN_YEARS_AT = "policies/calendars/cn-mainland.yaml:10:1"


def test_a_calendar_with_its_next_year_far_off_gets_no_note() -> None:
    assert coverage_notes(DEFAULT_SET, dt.date(2026, 12, 6)) == []
    assert coverage_notes(DEFAULT_SET, dt.date(2027, 9, 2)) == []  # the day before deadlines may reach 2028


def test_deadlines_that_may_reach_a_missing_year_are_said_with_the_command_that_adds_it() -> None:
    [note] = coverage_notes(DEFAULT_SET, dt.date(2027, 9, 3))
    assert f"{note.file}:{note.line}:{note.col}" == CN_YEARS_AT
    assert note.message == (
        "calendar 'cn-mainland' covers up to 2027: deadlines from 2027-09-03 on may reach 2028, and a case that "
        "needs a date there is refused; regenerate it with the year (and review the diff): "
        "`aftersales calendar generate cn-mainland --year 2026 --year 2027 --year 2028 "
        "-o policies/calendars/cn-mainland.yaml`"
    )


def test_a_year_already_missing_is_said_as_such() -> None:
    [note] = coverage_notes(DEFAULT_SET, dt.date(2028, 2, 1))
    assert note.message.startswith(
        "calendar 'cn-mainland' does not cover this year (2028): cases needing its dates are refused now"
    )


def _folder_with_last_years_calendar(tmp_path: Path) -> tuple[Path, int]:
    """The activity tests' policy on a calendar that lists only last year (whatever today is)."""
    last_year = dt.datetime.now(dt.UTC).year - 1
    folder = tmp_path / "policies"
    (folder / "calendars").mkdir(parents=True)
    calendar = CALENDAR.replace("years: [2026, 2027]", f"years: [{last_year}]")
    (folder / "calendars" / "test-cal.yaml").write_text(calendar, encoding="utf-8")
    (folder / "gift.yaml").write_text(POLICY, encoding="utf-8")
    return folder, last_year + 1


def test_a_calendar_no_generator_knows_is_to_be_completed_by_hand(tmp_path: Path) -> None:
    folder, year = _folder_with_last_years_calendar(tmp_path)
    [note] = coverage_notes(load_policy_set([folder]), dt.date(year, 3, 1))
    assert note.message.endswith(f"add {year} (holidays and make-up working days) to {note.file}")


def test_validate_warns_and_still_succeeds(tmp_path: Path) -> None:
    folder, year = _folder_with_last_years_calendar(tmp_path)

    result = aftersales("policy", "validate", str(folder))

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""  # problems go there: there are none
    warning = f"calendars/test-cal.yaml:7:1: warning: calendar 'test-cal' does not cover this year ({year})"
    assert warning in result.stderr


def test_the_worker_logs_the_note_when_it_adopts_the_set(tmp_path: Path) -> None:
    folder, year = _folder_with_last_years_calendar(tmp_path)

    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        PolicySource(folder, check_every=0)

    warnings = [e["event"] for e in logs if e["log_level"] == "warning"]
    assert (
        len(warnings) == 1
        and f"test-cal.yaml:7:1: warning: calendar 'test-cal' does not cover this year ({year})" in warnings[0]
    )
    # The operator's file (shown relative to the working folder when that is shorter), not its copy.
    shown = warnings[0].split(":7:1: warning:")[0]
    assert Path(shown).resolve() == (folder / "calendars" / "test-cal.yaml").resolve()
