"""The refusal log's tests: ledger tests on both databases (tests/ledger's fixtures), and records."""

from __future__ import annotations

import datetime as dt

from service.refusals import Refusal
from tests.ledger.conftest import database_url, ledger, postgres_url

__all__ = ["database_url", "ledger", "postgres_url", "refusal"]

AT = dt.datetime(2026, 11, 5, 1, 0, tzinfo=dt.UTC)


def refusal(update_id: str, *, case_id: str = "R-1001", at: dt.datetime = AT, reason: str = "no") -> Refusal:
    """A refused `submit_event` as the interceptor records it."""
    return Refusal(
        case_id=case_id,
        update_id=update_id,
        at=at,
        update_name="submit_event",
        event="merchant_approve",
        role="merchant",
        claimed_principal="merchant-portal",
        reason=reason,
        data_sha256="0" * 64,
        data_size=2,
    )
