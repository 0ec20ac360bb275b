"""Each refusal a validator gives has a code in the audit, read from the reason's fixed words."""

from __future__ import annotations

import pytest

from audit.refusals import REFUSAL_CODES, refusal_code
from workflows.bounds import case_data_problem, case_id_problem, event_data_problem, event_key_problem
from workflows.contract import CALLER_REFUSED, CASE_EXISTS, STILL_OPENING, DataLimits
from workflows.trust import platform_only

LIMITS = DataLimits()
REASONS = [
    (f"{CALLER_REFUSED}: the token's signature does not verify", "caller_refused"),
    (f"{STILL_OPENING}; send the event again in a moment", "still_opening"),
    (f"{CASE_EXISTS}; use another case id", "case_exists"),
    (case_id_problem(""), "over_bounds"),
    (event_key_problem("k" * 1000), "over_bounds"),
    (event_data_problem({"a": "x" * 100_000}, LIMITS), "over_bounds"),
    (case_data_problem({"a": float("nan")}, LIMITS), "over_bounds"),
    (platform_only("refund_completed", None, frozenset({"refund_completed"}), {}), "platform_only"),
    ("event 'return_delivered' is not accepted in state 'requested' (accepted now: cancel)", "policy_refused"),
    ("unknown event: 'return' cases declare no event of that name", "policy_refused"),
]


@pytest.mark.parametrize(("reason", "code"), REASONS)
def test_each_reason_has_its_code(reason: str | None, code: str) -> None:
    assert reason is not None
    assert refusal_code(reason) == code


def test_every_code_is_given_to_some_reason() -> None:
    assert {code for _, code in REASONS} == set(REFUSAL_CODES)
