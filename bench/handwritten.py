"""The baseline for the end-to-end benchmark: a return case written by hand as a Temporal workflow.

The same activities (four notifications, one refund, one opening lookup), the same update with a
validator, and the same state timers as the default return policy on the happy path, with every rule
hard-coded: what a team would write without a policy engine.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from typing import Any

from temporalio import activity, workflow

from activities.outbox import Outbox

TASK_QUEUE = "bench-handwritten"
HOUR = dt.timedelta(hours=1)
# state -> (deadline in that state, event -> (role, next state, notification or "refund"))
RULES: dict[str, tuple[dt.timedelta, dict[str, tuple[str, str, str | None]]]] = {
    "awaiting_merchant": (48 * HOUR, {"merchant_approve": ("merchant", "awaiting_shipment", None)}),
    "awaiting_shipment": (7 * 24 * HOUR, {"return_shipped": ("customer", "in_transit", None)}),
    "in_transit": (15 * 24 * HOUR, {"return_delivered": ("system", "awaiting_receipt", "return_arrived")}),
    "awaiting_receipt": (48 * HOUR, {"confirm_receipt": ("merchant", "refunding", "refund")}),
}


class HandwrittenActivities:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    @activity.defn(name="hw_lookup")
    def lookup(self, case_id: str) -> str:
        return "return-handwritten"

    @activity.defn(name="hw_effect")
    def effect(self, case_id: str, kind: str, key: str) -> bool:
        return self.outbox.record(key, case_id, "return", kind, {"kind": kind})


@workflow.defn(name="HandwrittenReturn")
class HandwrittenReturn:
    def __init__(self) -> None:
        self.state = "awaiting_merchant"  # events may arrive while the opening effects run
        self.inbox: deque[str] = deque()
        self.case_id = ""
        self.effects = 0

    async def _effect(self, kind: str) -> None:
        self.effects += 1
        await workflow.execute_activity(
            "hw_effect",
            args=[self.case_id, kind, f"{self.case_id}/{self.effects}/{kind}"],
            start_to_close_timeout=dt.timedelta(seconds=30),
        )

    @workflow.run
    async def run(self, case: dict[str, Any]) -> str:
        self.case_id = case["case_id"]
        await workflow.execute_activity("hw_lookup", self.case_id, start_to_close_timeout=dt.timedelta(seconds=30))
        await self._effect("request_received")
        await self._effect("merchant_new_request")
        while self.state in RULES:
            deadline, _ = RULES[self.state]
            try:
                await workflow.wait_condition(lambda: bool(self.inbox), timeout=deadline)
            except TimeoutError:
                self.state = "closed_by_timeout"
                break
            name = self.inbox.popleft()
            _, target, effect = RULES[self.state][1][name]
            self.state = target
            if effect == "refund":
                await self._effect("refund")
                await self._effect("refund_done")
                self.state = "refunded"
            elif effect:
                await self._effect(effect)
        return self.state

    @workflow.update(name="submit_event")
    async def submit_event(self, name: str, role: str) -> str:
        self.inbox.append(name)
        before = len(self.inbox)
        await workflow.wait_condition(lambda: len(self.inbox) < before)
        return self.state

    @submit_event.validator
    def _check(self, name: str, role: str) -> None:
        if self.state not in RULES:
            raise ValueError(f"not accepted in state '{self.state}'")
        allowed = RULES[self.state][1]
        if name not in allowed:
            raise ValueError(f"event '{name}' is not accepted in state '{self.state}'")
        if allowed[name][0] != role:
            raise ValueError(f"role '{role}' may not send '{name}'")
