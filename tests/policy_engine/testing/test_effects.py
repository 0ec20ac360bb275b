"""`expect.effects`: effects with their contents, matched partially, by value, in time and in number."""

from __future__ import annotations

import pytest

from policy_engine.language import PolicyError, PolicySet
from policy_engine.testing import parse_scenario_text, run_scenario

SCENARIO = """
case_type: refund_only
case_id: F-9
opened_at: 2026-11-03T10:00:00+08:00
data:
  channel: app
  customer: {{id: C-1, tier: regular, locale: en}}
  order: {{id: O-1, merchant_id: M-1, paid_at: 2026-10-30T09:00:00+08:00, amount: 300, currency: CNY}}
  item: {{sku: SKU-1, category: apparel, price: 150, quantity: 2}}
  reason: no_reason
events:
  - {{at: +1h, name: merchant_approve, actor: {{role: merchant, id: M-1}}}}
expect:
  effects:
{effects}
"""


def _failures(policy_set: PolicySet, *effects: str) -> list[str]:
    text = SCENARIO.format(effects="\n".join(f"    - {e}" for e in effects))
    return run_scenario(policy_set, parse_scenario_text(text, "effects.yaml")).failures


def test_partial_match_by_value_at_a_relative_time(policy_set: PolicySet) -> None:
    assert _failures(policy_set, "{type: refund, params: {amount: 300.00}, at: +1h, count: 1}") == []
    assert _failures(policy_set, "{type: refund, params: {amount: 300}}") == []  # 300 is 300.00
    assert _failures(policy_set, "{type: notify, params: {to: [customer], locale: en}}") == []  # other keys unread


def test_a_wrong_amount_time_or_count_fails_and_shows_what_happened(policy_set: PolicySet) -> None:
    [amount] = _failures(policy_set, "{type: refund, params: {amount: 150}}")
    assert amount.startswith("effects[0]: no 'refund' with {\"amount\": 150}") and '"amount": 300' in amount
    [late] = _failures(policy_set, "{type: refund, at: +2h}")
    assert "at 2026-11-03T12:00:00+08:00" in late and "at 2026-11-03T11:00:00+08:00" in late
    [twice] = _failures(policy_set, "{type: refund, count: 2}")
    assert "expected 2 x 'refund', got 1" in twice
    [none] = _failures(policy_set, "{type: advance_payment}")
    assert "none of that type happened" in none
    [listed] = _failures(policy_set, "{type: notify, params: {to: [customer, merchant]}}")
    assert listed.startswith("effects[0]: no 'notify'")  # a list is matched whole, in order


TIMERS = """
case_type: refund_only
case_id: F-10
opened_at: 2026-11-03T10:00:00+08:00
data:
  channel: app
  customer: {{id: C-1, tier: regular, locale: en}}
  order: {{id: O-1, merchant_id: M-1, paid_at: 2026-10-30T09:00:00+08:00,
          shipped_at: 2026-10-31T09:00:00+08:00, amount: 300, currency: CNY}}
  item: {{sku: SKU-1, category: apparel, price: 300, quantity: 1}}
  reason: not_received
events: []
until: +1h
expect:
  timers:
{timers}
"""


def _timer_failures(policy_set: PolicySet, **timers: str) -> list[str]:
    text = TIMERS.format(timers="\n".join(f"    {name}: {when}" for name, when in timers.items()))
    return run_scenario(policy_set, parse_scenario_text(text, "timers.yaml")).failures


def test_open_deadlines_are_stated_by_name_and_exact_due_time(policy_set: PolicySet) -> None:
    merchant = "state:awaiting_merchant:merchant_decision"
    assert _timer_failures(policy_set, **{merchant: "+48h"}) == []
    assert _timer_failures(policy_set, **{merchant: "2026-11-05T02:00:00Z"}) == []  # the same instant in UTC
    [early] = _timer_failures(policy_set, **{merchant: "+24h"})
    assert early == f"timers.{merchant}: expected due at 2026-11-04T10:00:00+08:00, got 2026-11-05T10:00:00+08:00"
    [missing] = _timer_failures(policy_set, **{"state:awaiting_shipment:shipment_deadline": "+7d"})
    assert "is not pending (pending: " in missing and merchant in missing


def test_a_timer_time_that_is_not_a_time_is_refused_with_its_place() -> None:
    text = TIMERS.format(timers="    state:awaiting_merchant:merchant_decision: soon")
    with pytest.raises(PolicyError) as refused:
        parse_scenario_text(text, "timers.yaml")
    assert str(refused.value) == "timers.yaml:16:5: 'soon' is neither a relative time (+2h) nor an ISO 8601 date-time"
