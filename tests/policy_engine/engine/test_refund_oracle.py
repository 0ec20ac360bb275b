"""Refunds and advance payments pay what the case data says, computed here with Decimal.

returns.yaml: a refund, and the platform's advance payment (先行赔付) when the refund is late, pay
`refund_amount` when the case gives one, else the item's price times its quantity. The test computes
that amount from the case data it drew (prices in cents, as Decimal), drives return and refund-only
cases down every path to `refunding` through `open_case`, `step` and `fire_due`, and compares it with
the `amount` of every refund and advance payment the engine ran (its `RunAction` commands, and the
same action in the case's timeline), to the cent. The advance payment falls due when the refund
clock's 7 calendar days (counted by the reference from the calendar file) end, not a second before.

The documents state no rounding for amounts; CNY is paid in cents, so an amount is compared rounded
to the cent (half up). `test_a_refund_is_an_exact_amount_of_money` shows the engine's amounts are
binary floats that are not exact cents (see its reason).
"""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from policy_engine.engine import (
    Actor,
    CaseState,
    EventIn,
    OpenCase,
    RunAction,
    StepResult,
    TimerDue,
    failure_messages,
    fire_due,
    open_case,
    step,
)
from policy_engine.language import ResolvedPolicy, load_policy_set
from tests.conftest import POLICIES
from tests.policy_engine.engine.oracle_reference import (
    RAW_POLICIES,
    SECOND,
    calendar_days_end,
    calendar_days_of,
    instants,
    sender_id,
)

POLICY_SET = load_policy_set([POLICIES])

PATHS = {
    "return": ["confirm", "auto_approve", "auto_receipt", "problem"],
    "refund_only": ["approve", "auto_approve", "overruled"],
}
# Where the refund clock starts, per case type, as returns.yaml says (`sla.refund.start`).
CLOCK_STARTS = {
    case_type: RAW_POLICIES[pid]["sla"]["refund"]["start"]
    for case_type, pid in (("return", "return-default"), ("refund_only", "refund-only-default"))
}


class Run:
    """A case driven through the public engine, with every action it ran and when."""

    def __init__(self, resolved: ResolvedPolicy, result: StepResult, at: dt.datetime) -> None:
        self.resolved = resolved
        self.case = result.state
        self.now = at
        self.actions: list[tuple[dt.datetime, RunAction]] = []
        self._take(result, at)
        self.entered: dict[str, dt.datetime] = {self.case.state: at}

    def _take(self, result: StepResult, at: dt.datetime) -> CaseState:
        self.actions += [(at, c) for c in result.commands if isinstance(c, RunAction)]
        if result.state.state != self.case.state:
            self.entered[result.state.state] = at
        self.case = result.state
        return result.state

    def wait_until(self, until: dt.datetime) -> None:
        def apply(case: CaseState, timer: TimerDue) -> StepResult:
            return step(self.resolved, case, timer)

        self.case = fire_due(
            self.resolved, self.case, until, apply=apply, absorb=lambda result, timer: self._take(result, timer.at)
        )
        self.now = until

    def send(self, gap: int, name: str, role: str, data: dict[str, Any] | None = None) -> None:
        at = self.now + dt.timedelta(seconds=gap)
        self.wait_until(at)
        # The case's own customer or merchant, as the file's `parties` binds them.
        sender = sender_id(RAW_POLICIES[self.resolved.id], role, self.case.data)
        event = EventIn(name=name, actor=Actor(role=role, id=sender), data=data or {}, at=at)
        result = step(self.resolved, self.case, event)
        assert result.refused is None and result.failed is None, (name, self.case.state, result.refused, result.failed)
        self._take(result, at)

    def of_type(self, action_type: str) -> list[tuple[dt.datetime, RunAction]]:
        return [(at, c) for at, c in self.actions if c.type == action_type]


def case_data(price: Any, quantity: int, refund_amount: Any, opened: dt.datetime) -> dict[str, Any]:
    data: dict[str, Any] = {
        "channel": "app",
        "customer": {"id": "C-1", "locale": "en"},
        "order": {
            "id": "O-1",
            "merchant_id": "M-1",
            "paid_at": (opened - dt.timedelta(days=3)).isoformat(),
            "delivered_at": (opened - dt.timedelta(days=1)).isoformat(),
            "amount": price * quantity,
        },
        "item": {"sku": "SKU-1", "category": "apparel", "price": price, "quantity": quantity},
        "reason": "no_reason",
    }
    if refund_amount is not None:
        data["refund_amount"] = refund_amount
    return data


def money(cents: int, as_integer: bool) -> Any:
    """An amount as a backend sends it: a JSON number (an integer when it is whole yuan, sometimes)."""
    if as_integer and cents % 100 == 0:
        return cents // 100
    return float(Decimal(cents) / 100)


def drive(case_type: str, path: str, gaps: list[int], run: Run) -> None:
    """Take the case to `refunding` by `path`; events `gaps` seconds apart (each well inside its timer)."""
    g = iter(gaps)
    hours_48 = 48 * 3600
    if case_type == "return":
        if path == "auto_approve":
            run.wait_until(run.now + dt.timedelta(seconds=hours_48))
        else:
            run.send(next(g), "merchant_approve", "merchant")
        run.send(next(g), "return_shipped", "customer", {"tracking": "SF1"})
        run.send(next(g), "return_delivered", "system")
        if path in ("confirm", "auto_approve"):
            run.send(next(g), "confirm_receipt", "merchant")
        elif path == "problem":
            run.send(next(g), "report_problem", "merchant", {"reason": "scratched"})
            run.send(next(g), "platform_approve", "agent")
        # auto_receipt: the merchant says nothing; the case is refunded when `receipt_deadline` falls due
    elif path == "approve":
        run.send(next(g), "merchant_approve", "merchant")
    elif path == "auto_approve":
        run.wait_until(run.now + dt.timedelta(seconds=hours_48))
    else:
        run.send(next(g), "merchant_reject", "merchant", {"reason": "no"})
        run.send(next(g), "customer_escalate", "customer")
        run.send(next(g), "platform_approve", "supervisor")


@settings(max_examples=150, deadline=None)
@given(
    case_type=st.sampled_from(sorted(PATHS)),
    data=st.data(),
    price_cents=st.one_of(st.integers(0, 2_000_000), st.sampled_from([1, 10, 33, 199, 1999, 29900, 99999])),
    quantity=st.integers(1, 50),
    refund_cents=st.one_of(st.none(), st.integers(0, 5_000_000)),
    as_integer=st.booleans(),
    opened_at=instants(),
    gaps=st.lists(st.integers(1, 20 * 3600), min_size=6, max_size=6),
    refund_completes=st.booleans(),
)
def test_refund_and_advance_payment_pay_what_the_case_data_says(
    case_type: str,
    data: st.DataObject,
    price_cents: int,
    quantity: int,
    refund_cents: int | None,
    as_integer: bool,
    opened_at: dt.datetime,
    gaps: list[int],
    refund_completes: bool,
) -> None:
    path = data.draw(st.sampled_from(PATHS[case_type]), label="path")
    price = money(price_cents, as_integer)
    refund_amount = None if refund_cents is None else money(refund_cents, as_integer)
    expected = (Decimal(refund_cents) if refund_cents is not None else Decimal(price_cents) * quantity) / 100

    case = case_data(price, quantity, refund_amount, opened_at)
    resolved = POLICY_SET.select(case_type, case, opened_at)
    run = Run(
        resolved, open_case(resolved, OpenCase(case_id="RF-1", case_type=case_type, data=case, at=opened_at)), opened_at
    )
    assert run.case.state == "awaiting_merchant"
    drive(case_type, path, gaps, run)

    # The refund clock: 7 calendar days (returns.yaml) from entering its start state.
    clock_start = run.entered[CLOCK_STARTS[case_type][0]]
    breach = calendar_days_end(clock_start, calendar_days_of(RAW_POLICIES[resolved.id]["sla"]["refund"]["target"]))
    if "platform_review" in (RAW_POLICIES[resolved.id]["sla"]["refund"].get("pause") or []) and path == "problem":
        # Paused while the platform reviews: the clock keeps the time it had left.
        breach += run.entered["refunding"] - run.entered["platform_review"]
    if path == "auto_receipt":
        # Nobody confirms: the clock breaches (advance payment) before `receipt_deadline` refunds.
        run.wait_until(breach - SECOND)
        assert run.of_type("advance_payment") == []
        run.wait_until(breach)
        assert [at for at, _ in run.of_type("advance_payment")] == [breach]
        run.wait_until(breach + dt.timedelta(days=10))
    assert run.case.state == "refunding", (path, run.case.state)

    if refund_completes:
        run.send(60, "refund_completed", "system")
        assert run.case.state == "refunded"
    run.wait_until(max(run.now, breach) + dt.timedelta(days=30))

    refunds = run.of_type("refund")
    assert len(refunds) == 1, refunds
    advances = run.of_type("advance_payment")
    late = path == "auto_receipt" or not refund_completes
    assert [at for at, _ in advances] == ([breach] if late else []), (path, refund_completes, advances)
    for _at, command in refunds + advances:
        amount = command.params["amount"]
        assert isinstance(amount, int | float) and not isinstance(amount, bool), amount
        assert Decimal(repr(amount)) == expected, (
            f"{command.type} of {amount!r}: the case says {expected} (price {price!r} x {quantity},"
            f" refund_amount {refund_amount!r})"
        )
    # The audit trail shows the same amounts as the commands that ran.
    in_timeline = [
        entry.detail["params"]["amount"]
        for entry in run.case.timeline
        if entry.kind == "action" and entry.name in ("refund", "advance_payment")
    ]
    assert in_timeline == [command.params["amount"] for _at, command in sorted(refunds + advances, key=lambda a: a[0])]


def test_a_refund_is_an_exact_amount_of_money() -> None:
    # Expressions compute in binary floats (3 x 0.10 is 0.30000000000000004); a payment is to the cent.
    at = dt.datetime(2026, 11, 3, 10, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    case = case_data(0.1, 3, None, at)
    resolved = POLICY_SET.select("refund_only", case, at)
    run = Run(resolved, open_case(resolved, OpenCase(case_id="RF-2", case_type="refund_only", data=case, at=at)), at)
    run.send(60, "merchant_approve", "merchant")
    [(_at, refund)] = run.of_type("refund")
    assert Decimal(repr(refund.params["amount"])) == Decimal("0.30"), refund.params["amount"]


def test_an_amount_below_zero_fails_the_action_loudly_and_pays_nothing(tmp_path: Path) -> None:
    # Case data cannot be negative (min: 0); a policy expression can. No refund goes out, an error
    # entry says why (a policy test would fail on it).
    shutil.copytree(POLICIES, tmp_path / "policies")
    returns = tmp_path / "policies" / "returns.yaml"
    text = returns.read_text(encoding="utf-8")
    assert text.count("else case.item.price * case.item.quantity") == 2
    returns.write_text(text.replace("else case.item.price * case.item.quantity", "else case.item.price - 1000"))
    policy_set = load_policy_set([tmp_path / "policies"])
    at = dt.datetime(2026, 11, 3, 10, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    case = case_data(100, 1, None, at)
    resolved = policy_set.select("refund_only", case, at)
    run = Run(resolved, open_case(resolved, OpenCase(case_id="RF-3", case_type="refund_only", data=case, at=at)), at)
    run.send(60, "merchant_approve", "merchant")
    assert run.of_type("refund") == []
    assert failure_messages(run.case.timeline) == [
        "action 'refund' failed: an amount of money must be a number of 0 or more"
    ]
