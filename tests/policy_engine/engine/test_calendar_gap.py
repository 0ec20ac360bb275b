"""A deadline in a year the policy's calendar does not list: the case is refused with the reason the
operator can act on (the calendar and the year), never "the case data is out of range"."""

from __future__ import annotations

import datetime as dt

import pytest

from policy_engine.engine import OpenCase, OpenRefused, open_case
from policy_engine.engine.steps import CALENDAR_GAP
from policy_engine.language import load_policy_set
from policy_engine.testing import load_scenario
from tests.conftest import POLICIES, SCENARIOS

DEFAULT_SET = load_policy_set([POLICIES])
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _review_opened(at: dt.datetime) -> OpenCase:
    scenario = load_scenario(SCENARIOS / "merchant-review-rectified.yaml")
    return OpenCase(case_id="MR-1", case_type="merchant_review", data=scenario.data, at=at)


def test_an_opening_whose_deadline_reaches_a_year_the_calendar_lacks_is_refused_naming_it() -> None:
    # A review gives the merchant 5 working days: from 28 December 2027 that is in 2028, which the
    # cn-mainland calendar file does not list (it covers 2026 and 2027).
    opening = _review_opened(dt.datetime(2027, 12, 28, 10, 0, tzinfo=SHANGHAI))
    resolved = DEFAULT_SET.select("merchant_review", opening.data, opening.at)

    with pytest.raises(OpenRefused) as refused:
        open_case(resolved, opening)

    assert str(refused.value).startswith(CALENDAR_GAP)
    assert refused.value.details == [
        "calendar 'cn-mainland' has no data for 2028 (it covers 2026, 2027): "
        "add the year to the calendar file (`aftersales calendar generate`)"
    ]


def test_the_same_opening_a_week_earlier_opens() -> None:
    opening = _review_opened(dt.datetime(2027, 12, 20, 10, 0, tzinfo=SHANGHAI))
    resolved = DEFAULT_SET.select("merchant_review", opening.data, opening.at)

    assert open_case(resolved, opening).state.state == "awaiting_plan"
