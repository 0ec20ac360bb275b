"""The audit bundle's times: in the zone of the pinned policy's calendar (UTC without one), or the
zone the reader asks for with --zone, always with an explicit offset; the same instants whatever
the zone."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from audit.bundle import audit_bundle
from audit.history import load_history_file, read_histories
from audit.verify import pinned_of, verify_case
from audit.zones import UTC, bundle_zone
from tests.cli import ROOT, aftersales
from tests.principal import DATA_CONVERTER, process_env

STORY = ROOT / "tests" / "histories" / "complaint-resolve-warning-then-met.json"
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$")


def _bundle(folder: Path, *args: str) -> dict[str, Any]:
    env = {"AFTERSALES_HOME": str(ROOT), "AFTERSALES_TIMEZONE": "Europe/Berlin", **process_env(folder)}
    result = aftersales("audit", "show", "--history", str(STORY), *args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    bundle: dict[str, Any] = json.loads(result.stdout)
    return bundle


def _times(bundle: dict[str, Any]) -> list[str]:
    """Every time the bundle shows (its trail's details aside)."""
    rows = [
        *[(r, ("at",)) for key in ("inputs", "timeline", "decisions", "transitions") for r in bundle[key]],
        *[(r, ("started_at", "due", "since")) for r in bundle["sla"]],
    ]
    return [bundle["opened_at"], *(row[name] for row, names in rows for name in names)]


def test_times_are_in_the_zone_of_the_pinned_policys_calendar(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)

    assert (bundle["time_zone"], bundle["time_zone_from"]) == (
        "Asia/Shanghai",
        "the pinned policy's calendar cn-mainland",
    )
    times = _times(bundle)
    assert len(times) > 20 and all(ISO_WITH_OFFSET.match(t) and t.endswith("+08:00") for t in times), times
    assert bundle["inputs"][0]["at"].startswith("2026-11-16T10:00:00")  # 02:00 UTC, read in Shanghai


def test_zone_shows_the_same_instants_in_the_zone_asked_for(tmp_path: Path) -> None:
    local, utc = _bundle(tmp_path), _bundle(tmp_path, "--zone", "UTC")

    assert (utc["time_zone"], utc["time_zone_from"]) == ("UTC", "--zone")
    assert all(t.endswith("+00:00") for t in _times(utc))
    assert [dt.datetime.fromisoformat(t) for t in _times(utc)] == [dt.datetime.fromisoformat(t) for t in _times(local)]


def test_the_page_shows_readable_times_with_their_offset(tmp_path: Path) -> None:
    env = {"AFTERSALES_HOME": str(ROOT), **process_env(tmp_path)}
    page = aftersales("audit", "show", "--history", str(STORY), "--format", "html", "--zone", "Europe/Berlin", env=env)

    assert page.returncode == 0, page.stderr
    assert "Times are in Europe/Berlin (--zone)" in page.stdout
    assert "2026-11-16 03:00:00 +01:00" in page.stdout  # the first input, 02:00 UTC
    assert "2026-11-16T" not in page.stdout.split("<details>")[0]  # no machine time outside the policy


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "+08:00", "../../etc/passwd", ""])
def test_a_zone_that_is_not_an_iana_name_is_refused(zone: str) -> None:
    result = aftersales("audit", "show", "--history", str(STORY), "--zone", zone)

    assert result.returncode == 2
    assert result.stderr.strip() == "--zone: not an IANA time zone name (Asia/Shanghai, Europe/Berlin, UTC)"
    assert not result.stdout


async def test_a_policy_without_a_calendar_shows_utc() -> None:
    case = await read_histories([load_history_file(STORY)], DATA_CONVERTER)
    policy = pinned_of(case)
    assert policy is not None and policy.calendar is not None

    zone = bundle_zone(dataclasses.replace(policy, calendar=None))
    bundle = audit_bundle(case, verify_case(case), None, None, zone)

    assert zone.zone == UTC and bundle["time_zone_from"] == "UTC: the pinned policy has no calendar"
    assert all(t.endswith("+00:00") for t in _times(bundle))
