"""Case data the benchmarks and the chaos test open by the hundred: a 7-day no-reason return,
delivered yesterday by the clock of the run, so that every case is inside its window, and the events
that take it to its refund, each sent by the case's own party."""

from __future__ import annotations

import datetime as dt
from typing import Any


def return_case_data(n: int, now: dt.datetime) -> dict[str, Any]:
    return {
        "channel": "app",
        "customer": {"id": f"C-{n}", "tier": "regular", "locale": "zh-CN"},
        "order": {
            "id": f"O-{n}",
            "merchant_id": "M-1",
            "paid_at": (now - dt.timedelta(days=3)).isoformat(),
            "delivered_at": (now - dt.timedelta(days=1)).isoformat(),
            "amount": 100 + n % 900,
            "currency": "CNY",
        },
        "item": {"sku": f"SKU-{n}", "category": "apparel", "price": 100 + n % 900, "quantity": 1},
        "reason": "no_reason",
    }


# The happy path from request to refund: (event, role, data).
RETURN_EVENTS: list[tuple[str, str, dict[str, Any]]] = [
    ("merchant_approve", "merchant", {}),
    ("return_shipped", "customer", {"tracking": "SF-BENCH"}),
    ("return_delivered", "system", {}),
    ("confirm_receipt", "merchant", {}),
]


def sender_of(data: dict[str, Any], role: str) -> str:
    """The actor id an event from `role` carries: the case's own customer or merchant, as the return
    policy binds them (`parties`; anyone else is refused), else a name for the sender."""
    if role == "customer":
        return str(data["customer"]["id"])
    if role == "merchant":
        return str(data["order"]["merchant_id"])
    return role
