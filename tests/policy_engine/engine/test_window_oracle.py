"""Windows and working days against a reference that shares nothing with the engine.

The reference (`oracle_reference`) counts days one at a time from the calendar file read with
`yaml.safe_load`, and takes window lengths, parameters and timer durations from the policy files read
the same way. The engine is asked only through its public entry points (`open_case`, `step`,
`fire_due`): whether a case opened at a given moment is inside its window shows in the decision it
takes, and when a working-day timer ends shows in when the case moves.

Delivery times are drawn across 2026 and 2027 with a bias towards the calendar's holidays and make-up
working days (Spring Festival, National Day), in several UTC offsets (the local date is what counts),
and every window is tried at its edges: the last second inside it, the first second after it, the
start itself and the second before.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from policy_engine.engine import Actor, CaseState, EventIn, OpenCase, fire_due, open_case, step
from policy_engine.language import ResolvedPolicy, load_policy_set
from tests.conftest import POLICIES
from tests.policy_engine.engine.oracle_reference import (
    CALENDAR,
    EDGE_SECONDS,
    ONE_DAY,
    RAW_POLICIES,
    SECOND,
    calendar_days_end,
    calendar_days_of,
    instants,
    months_end,
    sender_id,
    working_days_end,
)

POLICY_SET = load_policy_set([POLICIES])
SETTINGS = settings(max_examples=60, deadline=None)


def opened(case_type: str, data: dict[str, Any], at: dt.datetime) -> tuple[ResolvedPolicy, CaseState]:
    resolved = POLICY_SET.select(case_type, data, at)
    return resolved, open_case(resolved, OpenCase(case_id="W-1", case_type=case_type, data=data, at=at)).state


def order(delivered: dt.datetime, merchant: str = "M-1") -> dict[str, Any]:
    return {
        "id": "O-1",
        "merchant_id": merchant,
        "paid_at": (delivered - 3 * ONE_DAY).isoformat(),
        "delivered_at": delivered.isoformat(),
        "amount": 299.0,
    }


def concrete(case_type: str) -> list[dict[str, Any]]:
    """The policies that may run a case of this type (an empty list would leave the edges untried)."""
    found = [raw for raw in RAW_POLICIES.values() if raw.get("case_type") == case_type and not raw.get("abstract")]
    assert found, f"no policy file runs '{case_type}' cases"
    return found


def probe_times(start: dt.datetime, ends: set[dt.datetime], later: int) -> list[dt.datetime]:
    """The window's start and the second before, the last second inside each end and the end itself,
    and one moment drawn in between."""
    times = [start - SECOND, start, start + dt.timedelta(seconds=later)]
    for end in sorted(ends):
        times += [end - SECOND, end]
    return times


def test_the_reference_gives_the_documents_own_examples() -> None:
    """The reference itself, against the examples docs/policy-language.md, domain.md and the policy
    tests give (so that an oracle and the engine cannot agree on a mistake)."""
    signed = dt.datetime(2026, 11, 1, 15, tzinfo=CALENDAR.zone)
    assert calendar_days_end(signed, 7) == dt.datetime(2026, 11, 9, tzinfo=CALENDAR.zone)
    assert months_end(signed, 12) == dt.datetime(2027, 11, 2, tzinfo=CALENDAR.zone)
    # complaint-mediation-45-working-days.yaml: mediation from Mon 2026-11-16, 2027-01-01 a holiday
    mediation = dt.datetime(2026, 11, 16, 15, tzinfo=CALENDAR.zone)
    assert working_days_end(mediation, 45) == dt.datetime(2027, 1, 20, tzinfo=CALENDAR.zone)
    # National Day 2026: Oct 1-7 off, Sat Oct 10 a make-up working day; Sat Sep 26 no working day.
    assert working_days_end(dt.datetime(2026, 9, 30, 12, tzinfo=CALENDAR.zone), 1) == dt.datetime(
        2026, 10, 9, tzinfo=CALENDAR.zone
    )
    assert working_days_end(dt.datetime(2026, 10, 9, 12, tzinfo=CALENDAR.zone), 1) == dt.datetime(
        2026, 10, 11, tzinfo=CALENDAR.zone
    )
    # A month without the start's day ends on its last day.
    assert months_end(dt.datetime(2026, 1, 31, 10, tzinfo=CALENDAR.zone), 1) == dt.datetime(
        2026, 3, 1, tzinfo=CALENDAR.zone
    )


# ---------------------------------------------------------------------------------------------
# Return and exchange: the 7-day no-reason window, the quality window (15 days for an exchange), and
# a merchant that grants 15 days


@SETTINGS
@given(
    case_type=st.sampled_from(["return", "exchange"]),
    reason=st.sampled_from(["no_reason", "quality_defect", "damaged", "not_as_described", "wrong_item"]),
    merchant=st.sampled_from(["M-1", "M-1501"]),
    delivered=instants(),
    later=st.integers(0, 20 * 86400),
)
@example(  # the documents' own example: signed 2026-11-01 15:00, in time until 2026-11-08 23:59:59
    case_type="return",
    reason="no_reason",
    merchant="M-1",
    delivered=dt.datetime(2026, 11, 1, 15, tzinfo=dt.timezone(dt.timedelta(hours=8))),
    later=3600,
)
def test_return_windows_end_at_local_midnight_after_the_last_day(
    case_type: str, reason: str, merchant: str, delivered: dt.datetime, later: int
) -> None:
    window = "no_reason_return" if reason == "no_reason" else "quality_return"
    late_rule = "no-reason-late" if reason == "no_reason" else "quality-late"
    data = {
        "channel": "app",
        "customer": {"id": "C-1"},
        "order": order(delivered, merchant),
        "item": {"sku": "SKU-1", "category": "apparel", "price": 299.0, "quantity": 1},
        "reason": reason,
    }
    lengths = {calendar_days_of(raw["windows"][window]["length"]) for raw in concrete(case_type)}
    ends = {calendar_days_end(delivered, n) for n in lengths}
    for at in probe_times(delivered, ends, later):
        resolved, case = opened(case_type, data, at)
        days = calendar_days_of(RAW_POLICIES[resolved.id]["windows"][window]["length"])
        end = calendar_days_end(delivered, days)
        inside = delivered <= at < end
        rule = case.decisions["eligibility"].rule
        assert rule == ("eligible" if inside else late_rule), (
            f"{resolved.id}: delivered {delivered.isoformat()}, {days} calendar days end at {end.isoformat()};"
            f" opened {at.isoformat()} took rule {rule}"
        )
        assert case.state == ("awaiting_merchant" if inside else "rejected")


# ---------------------------------------------------------------------------------------------
# Repair: 7 days (any remedy), 15 days (exchange or repair), the warranty in months or in days


REPAIR = RAW_POLICIES["repair-default"]
REPAIR_CATEGORIES: list[str] = REPAIR["data"]["item"]["fields"]["category"]["enum"]


def expected_remedy_rule(
    kind: str, category: str, warranty_months: int | None, delivered: dt.datetime, at: dt.datetime
) -> str:
    """The remedy decision as repair.yaml writes it, with every window computed by the reference."""
    windows = REPAIR["windows"]
    params = REPAIR["parameters"]

    def inside(end: dt.datetime) -> bool:
        return delivered <= at < end

    any_remedy = inside(calendar_days_end(delivered, calendar_days_of(windows["choose_any_remedy"]["length"])))
    exchange = inside(calendar_days_end(delivered, calendar_days_of(windows["exchange_or_repair"]["length"])))
    months = warranty_months if warranty_months is not None else params["warranty_months"].get(category, 0)
    days = 0 if warranty_months is not None else params["warranty_days"].get(category, 0)
    warranty = (months > 0 and inside(months_end(delivered, months))) or (
        days > 0 and inside(calendar_days_end(delivered, days))
    )
    if kind == "performance" and any_remedy:
        return "performance-within-7-days"
    if kind == "performance" and exchange:
        return "performance-within-15-days"
    if warranty:
        return "within-warranty"
    return "out-of-warranty"


def repair_ends(category: str, warranty_months: int | None, delivered: dt.datetime) -> set[dt.datetime]:
    windows = REPAIR["windows"]
    params = REPAIR["parameters"]
    ends = {
        calendar_days_end(delivered, calendar_days_of(windows[name]["length"]))
        for name in ("choose_any_remedy", "exchange_or_repair")
    }
    months = warranty_months if warranty_months is not None else params["warranty_months"].get(category, 0)
    days = 0 if warranty_months is not None else params["warranty_days"].get(category, 0)
    if months > 0:
        ends.add(months_end(delivered, months))
    if days > 0:
        ends.add(calendar_days_end(delivered, days))
    return ends


# Month ends, where "the same day N months on" may not exist.
MONTH_END_DAYS = [dt.date(y, m, d) for y in (2026, 2027) for m in (1, 3, 5, 8, 10, 12) for d in (29, 30, 31)]


@SETTINGS
@given(
    kind=st.sampled_from(["performance", "cosmetic"]),
    category=st.sampled_from(REPAIR_CATEGORIES),
    warranty_months=st.one_of(st.none(), st.integers(0, 36)),
    delivered=st.one_of(
        instants(),
        st.builds(
            lambda day, second: (
                dt.datetime.combine(day, dt.time(0), tzinfo=CALENDAR.zone) + dt.timedelta(seconds=second)
            ),
            st.sampled_from(MONTH_END_DAYS),
            st.sampled_from(EDGE_SECONDS),
        ),
    ),
    later=st.integers(0, 40 * 31 * 86400),
)
@example(  # a month with no 31st: one month from Jan 31 ends with Feb 28
    kind="cosmetic",
    category="phone",
    warranty_months=1,
    delivered=dt.datetime(2026, 1, 31, 10, tzinfo=dt.timezone(dt.timedelta(hours=8))),
    later=0,
)
def test_repair_remedy_follows_the_warranty_windows(
    kind: str, category: str, warranty_months: int | None, delivered: dt.datetime, later: int
) -> None:
    item: dict[str, Any] = {"sku": "SKU-9", "category": category, "price": 100.0, "quantity": 1}
    if warranty_months is not None:
        item["warranty_months"] = warranty_months
    data = {
        "channel": "app",
        "customer": {"id": "C-1"},
        "order": order(delivered),
        "item": item,
        "fault": {"kind": kind},
    }
    for at in probe_times(delivered, repair_ends(category, warranty_months, delivered), later):
        _, case = opened("repair", data, at)
        expected = expected_remedy_rule(kind, category, warranty_months, delivered, at)
        rule = case.decisions["remedy"].rule
        assert rule == expected, (
            f"{kind} fault, {category}, warranty_months={warranty_months}, delivered {delivered.isoformat()},"
            f" opened {at.isoformat()}: engine took {rule}, the windows say {expected}"
        )
        assert case.state == ("rejected" if expected == "out-of-warranty" else "awaiting_choice")


# ---------------------------------------------------------------------------------------------
# Complaint mediation: 45 working days, skipping weekends and holidays, counting make-up working days


COMPLAINT = RAW_POLICIES["complaint-default"]
_WORKING = re.compile(r"^(\d+) working days?$")


def mediation_working_days() -> int:
    after = COMPLAINT["states"]["mediation"]["timers"]["mediation_deadline"]["after"]
    m = _WORKING.match(after)
    assert m is not None, after
    return int(m.group(1))


def to_mediation(entered: dt.datetime) -> tuple[ResolvedPolicy, CaseState]:
    """A complaint whose customer rejects resolutions until it goes to mediation, the last rejection at
    `entered`; every earlier step a second apart."""
    rounds = COMPLAINT["parameters"]["reopens_before_mediation"]
    steps: list[tuple[str, str, dict[str, Any]]] = [("acknowledge", "agent", {})]
    steps += [("propose_resolution", "agent", {"remedy": "refund"}), ("reject", "customer", {})] * rounds
    at = entered - SECOND * (len(steps) - 1)
    data = {
        "channel": "phone",
        "customer": {"id": "C-7"},
        "merchant_id": "M-6",
        "category": "product_quality",
        "description": "the pot peels",
    }
    resolved, case = opened("complaint", data, at - SECOND)
    for name, role, event_data in steps:
        sender = Actor(role=role, id=sender_id(COMPLAINT, role, data))  # the case's own customer, as `parties` binds it
        result = step(resolved, case, EventIn(name=name, actor=sender, data=event_data, at=at))
        assert result.refused is None, result.refused
        case = result.state
        at += SECOND
    assert case.state == "mediation", case.state
    return resolved, case


@settings(max_examples=40, deadline=None)
@given(entered=instants(dt.date(2026, 1, 1), dt.date(2027, 10, 1)))
def test_mediation_ends_at_the_end_of_the_last_working_day(entered: dt.datetime) -> None:
    resolved, case = to_mediation(entered)
    end = working_days_end(entered, mediation_working_days())
    assert end in case.timers.values(), (
        f"mediation entered {entered.isoformat()}: {mediation_working_days()} working days end at {end.isoformat()},"
        f" the case's timers say {[t.isoformat() for t in case.timers.values()]}"
    )
    assert fire_due(resolved, case, end - SECOND).state == "mediation"
    assert fire_due(resolved, case, end).state == "referred_to_regulator"
