"""A case's refused attempts as the worker's refusal log wrote them to the ledger (service/refusals)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from ledger.store import Ledger
from ledger.urls import DatabaseUrlError, check_url


class LedgerUnreadable(Exception):
    """Why the refusals could not be read; names the problem, never the URL (it may hold a password)."""


def refused_attempts(database_url: str, case_id: str) -> list[dict[str, Any]] | None:
    """The case's `refusals` rows, oldest first; None when there is no ledger there (a SQLite file
    that does not exist is not created). Raises LedgerUnreadable."""
    try:
        parsed = check_url(database_url)
    except DatabaseUrlError as exc:
        raise LedgerUnreadable(str(exc)) from None
    if parsed.drivername.startswith("sqlite") and not Path(parsed.database or "").expanduser().exists():
        return None
    ledger = Ledger(database_url)
    try:
        return ledger.refusals_of(case_id)
    except SQLAlchemyError:
        raise LedgerUnreadable(
            "the ledger's refusals could not be read (run `aftersales ledger upgrade` if it predates them)"
        ) from None
    finally:
        ledger.close()
