"""The rules themselves, without a server: what a start may carry, when an opening is backdated, the
backdating setting, and which events only the platform reports."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from activities.start_checks import Backdating, start_refusal
from bench.cases import return_case_data
from policy_engine.engine import RunAction
from policy_engine.language import PolicySet
from service import Settings
from tests.security.attacks import engine_run
from workflows.contract import CaseStart, OpenRequest, PinnedCase, ResolveRequest, StartClaims
from workflows.trust import (
    backdating_note,
    forged_start,
    platform_only,
    report_digest,
    reported_events,
    start_claims,
)

NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def _resolve(opened_at: dt.datetime, offset: float = 0.0, history_limit: int | None = None) -> ResolveRequest:
    claims = StartClaims(server_time=NOW, clock_offset_seconds=offset, history_limit=history_limit)
    return ResolveRequest(case_type="return", data={}, opened_at=opened_at, claims=claims)


def test_a_fresh_start_may_carry_its_opening_only(policy_set: PolicySet) -> None:
    opening = OpenRequest(case_id="R-1", case_type="return", data=return_case_data(1, NOW))
    assert forged_start(CaseStart(open=opening), None, None) is None
    resolved, state, _ = engine_run(policy_set, "return", "R-1", opening.data, [], NOW)
    pinned = PinnedCase(policy_version=resolved.version, policy_content=resolved.content(), state=state)
    carried = CaseStart(open=opening, pinned=pinned)
    assert forged_start(carried, "run-0", None) is None  # the case's own continue-as-new
    reason = forged_start(carried, None, None)
    assert reason is not None and "opening request only" in reason and "pending" not in reason
    pending = pinned.model_copy(update={"pending_actions": [RunAction(key="R-1/9/refund", type="refund", params={})]})
    assert "1 pending action(s)" in str(forged_start(CaseStart(open=opening, pinned=pending), None, None))
    # A cron schedule would have the server start continued runs with the caller's input: never.
    assert "cron" in str(forged_start(carried, "run-0", "* * * * *"))


def test_what_a_start_claims() -> None:
    opening = OpenRequest(case_id="R-1", case_type="return")
    assert start_claims(CaseStart(open=opening), NOW) is None
    assert start_claims(CaseStart(open=opening, history_limit=15), NOW) == StartClaims(
        server_time=NOW, history_limit=15
    )
    at = opening.model_copy(update={"opened_at": NOW})
    assert start_claims(CaseStart(open=at), NOW) == StartClaims(server_time=NOW)
    offset = start_claims(CaseStart(open=opening, clock_offset_seconds=-60.0), NOW)
    assert offset == StartClaims(server_time=NOW, clock_offset_seconds=-60.0)


def test_without_backdating_a_case_opens_at_the_servers_time() -> None:
    off = Backdating()
    assert (
        start_refusal(ResolveRequest(case_type="return", data={}, opened_at=NOW - 30 * DAY), off) is None
    )  # no claims
    assert start_refusal(_resolve(NOW - dt.timedelta(minutes=4)), off) is None  # within the skew
    assert start_refusal(_resolve(NOW + dt.timedelta(minutes=4)), off) is None
    past = start_refusal(_resolve(NOW - 21 * DAY), off)
    assert past is not None and "21 days before the server's time" in past and "AFTERSALES_ALLOW_BACKDATING" in past
    assert "6 minutes before" in str(start_refusal(_resolve(NOW - dt.timedelta(minutes=6)), off))
    assert "cannot open in the future" in str(start_refusal(_resolve(NOW + 3 * dt.timedelta(hours=1)), off))
    assert "move the case's clock" in str(start_refusal(_resolve(NOW - DAY, offset=-86400), off))
    assert "history_limit" in str(start_refusal(_resolve(NOW, history_limit=15), off))


def test_with_backdating_a_case_opens_in_the_past_up_to_the_limit() -> None:
    on = Backdating(allowed=True)
    assert start_refusal(_resolve(NOW - 21 * DAY), on) is None
    assert start_refusal(_resolve(NOW - 399 * DAY), on) is None
    assert "more than the 400 days" in str(start_refusal(_resolve(NOW - 401 * DAY), on))
    assert "more than the 400 days" in str(start_refusal(_resolve(NOW - 500 * DAY, offset=-500 * 86400), on))
    # A clock run at a past date (a drill), opened at that date.
    assert start_refusal(_resolve(NOW - 30 * DAY, offset=-30 * 86400), on) is None
    # Never in the future: neither the clock (beyond max_ahead) nor opened_at after the case's clock.
    assert "cannot open in the future" in str(start_refusal(_resolve(NOW + DAY), on))
    assert "ahead of the server's time" in str(start_refusal(_resolve(NOW + DAY, offset=86400), on))
    assert "after the case's clock" in str(start_refusal(_resolve(NOW, offset=-86400), on))
    harness = Backdating(allowed=True, max_ahead=400 * DAY)  # policy tests dated in the coming year
    assert start_refusal(_resolve(NOW + 300 * DAY, offset=300 * 86400), harness) is None
    # The history limit is a separate capability (the history recorder's), with a floor.
    assert "history_limit" in str(start_refusal(_resolve(NOW, history_limit=15), on))
    assert start_refusal(_resolve(NOW, history_limit=15), Backdating(history_limit=True)) is None
    assert "at least 10" in str(start_refusal(_resolve(NOW, history_limit=1), Backdating(history_limit=True)))


def test_a_backdated_case_says_how_it_was_backdated() -> None:
    assert backdating_note(ResolveRequest(case_type="return", data={}, opened_at=NOW)) is None
    assert backdating_note(_resolve(NOW - dt.timedelta(minutes=2))) is None
    note = backdating_note(_resolve(NOW - 21 * DAY))
    assert note == {
        "opened_at": (NOW - 21 * DAY).isoformat(),
        "server_time": NOW.isoformat(),
        "seconds_before_server_time": 21 * 86400.0,
        "clock_offset_seconds": 0.0,
    }


def test_backdating_is_off_unless_the_worker_is_configured(tmp_path: Path) -> None:
    settings = Settings.from_env({}, cwd=tmp_path)
    assert settings.allow_backdating is False and settings.backdating_max_days == 400
    on = Settings.from_env(
        {"AFTERSALES_ALLOW_BACKDATING": "true", "AFTERSALES_BACKDATING_MAX_DAYS": "30"}, cwd=tmp_path
    )
    assert on.allow_backdating is True and on.backdating_max_days == 30
    with pytest.raises(ValueError, match="AFTERSALES_ALLOW_BACKDATING must be true or false"):
        Settings.from_env({"AFTERSALES_ALLOW_BACKDATING": "maybe"}, cwd=tmp_path)
    with pytest.raises(ValueError, match="AFTERSALES_BACKDATING_MAX_DAYS must be a whole number"):
        Settings.from_env({"AFTERSALES_BACKDATING_MAX_DAYS": "a year"}, cwd=tmp_path)
    with pytest.raises(ValueError, match="AFTERSALES_BACKDATING_MAX_DAYS must be 1 or more"):
        Settings.from_env({"AFTERSALES_BACKDATING_MAX_DAYS": "0"}, cwd=tmp_path)
    from worker import backdating_of

    assert backdating_of(on) == Backdating(allowed=True, max_age=30 * DAY)
    assert backdating_of(settings) == Backdating()


def test_only_the_platform_reports_what_an_action_reports(policy_set: PolicySet) -> None:
    returns = policy_set.policies["return-default"]
    reported = reported_events(returns)
    assert reported == frozenset({"refund_completed"})
    assert platform_only("merchant_approve", None, reported, {}) is None
    reason = platform_only("refund_completed", None, reported, {})
    assert reason is not None and "reported by the platform only" in reason
    key = "one-time-key"
    awaiting = {report_digest(key): "refund_completed"}
    assert platform_only("refund_completed", key, reported, awaiting) is None
    assert platform_only("refund_completed", "guessed", reported, awaiting) is not None
    assert platform_only("refund_completed", key, reported, {report_digest(key): "other_event"}) is not None
