"""A backend system's view: open a return case, report the merchant's decision, read the case.

Run it with `make run` going in another terminal (same TEMPORAL_ADDRESS):

    .venv/bin/python examples/backend_client.py [CASE_ID]

Everything a backend needs is in `starter`: `CaseClient` and the errors it raises. The client is
closed by `async with`, which also lets the Temporal SDK's threads finish before the program exits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, without installing

from starter import CaseClient, CaseError, EventRefused


async def main(case_id: str) -> int:
    # Days before today (not before this second), so running it again asks for the same case.
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    data = {
        "channel": "app",
        "customer": {"id": "C-7", "tier": "regular", "locale": "en"},
        "order": {
            "id": f"O-{case_id}",
            "merchant_id": "M-1",
            "paid_at": (today - dt.timedelta(days=5)).isoformat(),
            "delivered_at": (today - dt.timedelta(days=2)).isoformat(),
            "amount": 299.00,
            "currency": "CNY",
        },
        "item": {"sku": "SKU-1", "category": "apparel", "price": 299.00, "quantity": 1},
        "reason": "no_reason",
    }
    async with await CaseClient.connect() as cases:  # TEMPORAL_ADDRESS etc. from the environment
        try:
            opened = await cases.open("return", case_id, data)
            print(f"{case_id}: {opened.state}{' (already open)' if opened.duplicate else ''}")

            # Refused: the customer cannot confirm receipt for the merchant. The case is unchanged.
            try:
                await cases.event(case_id, "confirm_receipt", role="customer", actor_id="C-7")
            except EventRefused as refused:
                print(f"refused as expected: {refused}")

            # The merchant approves; the key makes a retry after a timeout harmless (applied once).
            approved = await cases.event(
                case_id, "merchant_approve", role="merchant", actor_id="M-1", key=f"{case_id}:approve"
            )
            print(f"{case_id}: {approved.state}; accepted now: {', '.join(approved.accepted_events)}")
        except CaseError as exc:  # CaseRefused, CaseConflict, CaseNotFound, NoAnswerYet, CannotConnect
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "R-7001")))
