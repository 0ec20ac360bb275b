"""The refusal log's tests: ledger tests on both databases (tests/ledger's fixtures), and records."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from service.refusals import Refusal
from tests.ledger.conftest import database_url, ledger, postgres_url
from tests.refusals.live import RefusedCase, refused_case

__all__ = ["case", "database_url", "ledger", "postgres_url", "refusal"]

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


@pytest.fixture(scope="session")
def case(tmp_path_factory: pytest.TempPathFactory) -> RefusedCase:
    """The live case with three refused updates and an accepted one (run once per session)."""
    return asyncio.run(refused_case(tmp_path_factory.mktemp("refusals")))
