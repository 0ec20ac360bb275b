"""Parties are bound to their case: an event from a bound role is admitted only from the case's own party.

`parties` maps a role to the case data field that names its party (`merchant: case.shop`). The
engine checks it in one place (`steps._admission`, after the role), so `step` and `check_event`
refuse alike; deny by default (a case without the value admits that role from no one); roles that
are not bound are admitted by role alone; the reason never carries the sender's id or the case's data.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from policy_engine.engine import Actor, CaseState, EventIn, OpenCase, check_event, open_case, step
from policy_engine.language import PARTY_ROLES, ROLES, ResolvedPolicy, load_policy_set
from policy_engine.tools import diff_sets
from tests.conftest import POLICIES, ROOT

BASE = ROOT / "tests" / "broken_policies" / "_base"
AT = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))

POLICY = """
policies:
  - policy: ticket
    case_type: ticket
    calendar: test-cal
    locales: [zh-CN, en]
    data:
      customer: {type: object, fields: {id: string}}
      shop: {type: string, required: false}
    parties:
      customer: case.customer.id
      merchant: case.shop
    events:
      answer: {roles: [merchant]}
      close: {roles: [customer, agent]}
    open:
      goto: new
    states:
      new:
        on:
          answer: answered
          close: closed
      answered:
        on:
          close: closed
      closed: {terminal: true}
"""

CHILDREN = """
  - policy: ticket-vip
    extends: ticket
    when: case.customer.id == 'VIP'
    parties:
      merchant: case.customer.id
  - policy: ticket-open
    extends: ticket
    when: case.customer.id == 'OPEN'
    order: 50
    parties:
      merchant: null
"""


def _set(tmp_path: Path, text: str) -> dict[str, ResolvedPolicy]:
    path = tmp_path / "ticket.yaml"
    path.write_text(text, encoding="utf-8")
    return load_policy_set([BASE, path]).policies


def _opened(resolved: ResolvedPolicy, data: dict[str, object]) -> CaseState:
    return open_case(resolved, OpenCase(case_id="T-1", case_type="ticket", data=data, at=AT)).state


def _event(name: str, role: str, actor_id: str = "") -> EventIn:
    return EventIn(name=name, actor=Actor(role=role, id=actor_id), at=AT + dt.timedelta(hours=1))


def _admitted(resolved: ResolvedPolicy, case: CaseState, event: EventIn) -> str | None:
    """The refusal (None when admitted), the same from `check_event` and `step`; a refusal changes nothing
    but the refusal count and the timeline."""
    reason = check_event(resolved, case, event)
    result = step(resolved, case, event)
    assert result.refused == reason
    if reason is not None:
        assert result.state.state == case.state and result.state.timers == case.timers
        assert result.state.refused == case.refused + 1
        assert result.state.timeline[-1].kind == "refused"
        assert result.commands == []
    return reason


@pytest.fixture
def ticket(tmp_path: Path) -> ResolvedPolicy:
    return _set(tmp_path, POLICY)["ticket"]


def test_only_the_cases_own_party_is_admitted(ticket: ResolvedPolicy) -> None:
    case = _opened(ticket, {"customer": {"id": "C-1"}, "shop": "M-1"})
    assert _admitted(ticket, case, _event("answer", "merchant", "M-1")) is None
    assert _admitted(ticket, case, _event("close", "customer", "C-1")) is None
    wrong_merchant = _admitted(ticket, case, _event("answer", "merchant", "M-2"))
    assert wrong_merchant == "the sender is not this case's merchant: only the case's own merchant may send 'answer'"
    wrong_customer = _admitted(ticket, case, _event("close", "customer", "C-2"))
    assert wrong_customer is not None and "this case's customer" in wrong_customer
    # Neither the sender's id nor the case's party is echoed.
    for reason in (wrong_merchant, wrong_customer):
        assert "M-2" not in reason and "C-2" not in reason and "M-1" not in reason and "C-1" not in reason


@pytest.mark.parametrize(
    ("role", "actor_id"),
    [
        ("merchant", ""),  # no id is nobody's party
        ("merchant", "C-1"),  # the case's customer, as its merchant
        ("merchant", "m-1"),  # ids are compared exactly
        ("merchant", " M-1"),
    ],
)
def test_anyone_else_in_a_bound_role_is_refused(ticket: ResolvedPolicy, role: str, actor_id: str) -> None:
    case = _opened(ticket, {"customer": {"id": "C-1"}, "shop": "M-1"})
    reason = _admitted(ticket, case, _event("answer", role, actor_id))
    assert reason is not None and "the sender is not this case's merchant" in reason


@pytest.mark.parametrize("data", [{"customer": {"id": "C-1"}}, {"customer": {"id": "C-1"}, "shop": ""}])
def test_a_case_that_names_no_party_admits_that_role_from_no_one(
    ticket: ResolvedPolicy, data: dict[str, object]
) -> None:
    case = _opened(ticket, data)
    for actor_id in ("", "M-1", "anyone"):
        reason = _admitted(ticket, case, _event("answer", "merchant", actor_id))
        assert reason == "the case names no merchant, so no merchant may send 'answer'"
    assert _admitted(ticket, case, _event("close", "customer", "C-1")) is None  # the customer is named


def test_roles_without_a_binding_are_admitted_by_role_alone(ticket: ResolvedPolicy) -> None:
    case = _opened(ticket, {"customer": {"id": "C-1"}, "shop": "M-1"})
    for actor_id in ("A-1", "A-2", ""):
        assert _admitted(ticket, case, _event("close", "agent", actor_id)) is None


def test_the_role_and_the_state_are_checked_first(ticket: ResolvedPolicy) -> None:
    case = _opened(ticket, {"customer": {"id": "C-1"}, "shop": "M-1"})
    assert "role 'customer' may not send 'answer'" in (
        _admitted(ticket, case, _event("answer", "customer", "C-1")) or ""
    )
    closed = step(ticket, case, _event("close", "customer", "C-1")).state
    assert "the case is closed" in (_admitted(ticket, closed, _event("answer", "merchant", "M-2")) or "")


def test_parties_are_inherited_rebound_and_unbound_through_extends(tmp_path: Path) -> None:
    policies = _set(tmp_path, POLICY + CHILDREN)
    assert policies["ticket-vip"].policy.parties == {"customer": "case.customer.id", "merchant": "case.customer.id"}
    assert policies["ticket-open"].policy.parties == {"customer": "case.customer.id"}
    vip = _opened(policies["ticket-vip"], {"customer": {"id": "VIP"}, "shop": "M-1"})
    assert _admitted(policies["ticket-vip"], vip, _event("answer", "merchant", "VIP")) is None
    assert _admitted(policies["ticket-vip"], vip, _event("answer", "merchant", "M-1")) is not None
    unbound = _opened(policies["ticket-open"], {"customer": {"id": "OPEN"}})
    assert _admitted(policies["ticket-open"], unbound, _event("answer", "merchant", "anyone")) is None
    assert _admitted(policies["ticket-open"], unbound, _event("close", "customer", "C-9")) is not None


def test_a_policy_without_parties_keeps_its_content_and_admits_by_role(tmp_path: Path) -> None:
    """Cases pin their policy's content: one pinned before `parties` existed has none, keeps its
    version (the key is left out of the content when empty) and admits any sender of an allowed role."""
    text = POLICY.replace("    parties:\n      customer: case.customer.id\n      merchant: case.shop\n", "")
    old = _set(tmp_path, text)["ticket"]
    assert old.policy.parties == {}
    assert "parties" not in old.content()["policy"]
    assert old.from_content(old.content(), old.version).version == old.version
    case = _opened(old, {"customer": {"id": "C-1"}, "shop": "M-1"})
    assert _admitted(old, case, _event("answer", "merchant", "M-2")) is None


def test_the_diff_names_a_changed_binding(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    before = load_policy_set([BASE, _write(tmp_path / "a", POLICY)])
    after = load_policy_set(
        [BASE, _write(tmp_path / "b", POLICY.replace("merchant: case.shop", "merchant: case.customer.id"))]
    )
    changes = [(c.area, c.what, c.old, c.new) for c in diff_sets(before, after)]
    assert ("party", "party merchant", "case.shop", "case.customer.id") in changes


def _write(folder: Path, text: str) -> Path:
    path = folder / "ticket.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_default_policies_bind_the_customer_and_the_merchant_of_every_loop() -> None:
    assert set(PARTY_ROLES) == {"customer", "merchant"} and set(PARTY_ROLES) <= set(ROLES)
    # Every party role a loop lets send an event is bound to the case (deny by default: an unbound
    # role would let any customer or merchant act on any case); the after-sales loops have both.
    policies = load_policy_set([POLICIES]).policies.values()
    for resolved in policies:
        senders = {role for event in resolved.policy.events.values() for role in event.roles}
        assert senders & set(PARTY_ROLES) <= set(resolved.policy.parties), resolved.id
        if resolved.policy.case_type != "merchant_review":  # a review has no customer
            assert set(resolved.policy.parties) == {"customer", "merchant"}, resolved.id
    assert {r.policy.case_type for r in policies} >= {"return", "complaint", "merchant_review"}
