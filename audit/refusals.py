"""A case's refused attempts as the worker's refusal log wrote them to the ledger (service/refusals).

The log keeps names, the reason the caller got and the data's digest and size, never the data. The
code of a refusal (`refusal_code`) is read from its reason, so rows written before codes existed get
one too: the reasons start with the contract's fixed words (workflows/contract.py, workflows/bounds.py).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from ledger.facts import utc
from ledger.store import Ledger
from ledger.urls import DatabaseUrlError, check_url
from workflows.bounds import CASE_ID_RULE, EVENT_KEY_RULE, NOT_JSON
from workflows.contract import CALLER_REFUSED, CASE_EXISTS, PLATFORM_ONLY, STILL_OPENING

# Each code and what it means, for docs/audit.md and the glossary of a reader.
REFUSAL_CODES = {
    "caller_refused": "the caller's token did not allow the call (missing, forged, expired, not granted, reused)",
    "still_opening": "the case was still opening; the caller was told to send again",
    "case_exists": "an opening for an existing case id with other data",
    "over_bounds": "the data, case id or event key was over the case's bounds",
    "platform_only": "an event only the platform reports, sent from outside without its report key",
    "policy_refused": "the pinned policy does not accept the event now (state, role, data)",
}
# Words that only the bounds' reasons hold (their size or depth settings, their rules).
_BOUNDS = (CASE_ID_RULE, EVENT_KEY_RULE, NOT_JSON, "(AFTERSALES_MAX_")


def refusal_code(reason: str) -> str:
    """The kind of a validator's refusal, from the reason the caller got (a key of REFUSAL_CODES)."""
    if reason.startswith(CALLER_REFUSED):
        return "caller_refused"
    if reason.startswith(STILL_OPENING):
        return "still_opening"
    if reason.startswith(CASE_EXISTS):
        return "case_exists"
    if any(words in reason for words in _BOUNDS):
        return "over_bounds"
    if PLATFORM_ONLY in reason:
        return "platform_only"
    return "policy_refused"


class LedgerUnreadable(Exception):
    """Why the refusals could not be read; names the problem, never the URL (it may hold a password)."""


class RefusalReader:
    """The ledger's `refusals`, read case by case over one connection pool; `None` rows: no ledger
    there (a SQLite file that does not exist is not created). Raises LedgerUnreadable."""

    def __init__(self, database_url: str) -> None:
        try:
            parsed = check_url(database_url)
        except DatabaseUrlError as exc:
            raise LedgerUnreadable(str(exc)) from None
        missing = parsed.drivername.startswith("sqlite") and not Path(parsed.database or "").expanduser().exists()
        self._ledger = None if missing else Ledger(database_url)

    def of(self, case_id: str) -> list[dict[str, Any]] | None:
        """The case's `refusals` rows, oldest first; None without a ledger."""
        if self._ledger is None:
            return None
        try:
            return self._ledger.refusals_of(case_id)
        except SQLAlchemyError:
            raise LedgerUnreadable(
                "the ledger's refusals could not be read (run `aftersales ledger upgrade` if it predates them)"
            ) from None

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()

    def __enter__(self) -> RefusalReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def refused_attempts(database_url: str, case_id: str) -> list[dict[str, Any]] | None:
    """The case's `refusals` rows, oldest first; None when there is no ledger there. Raises LedgerUnreadable."""
    with RefusalReader(database_url) as reader:
        return reader.of(case_id)


def attempt_of(row: dict[str, Any]) -> dict[str, Any]:
    """A `refusals` row as the audit shows it: who (claimed), what, when, why and the data's digest."""
    return {
        "at": utc(row["at"]).isoformat(),
        "update_id": row["update_id"],
        "update": row["update_name"],
        "event": row["event"],
        "role": row["role"],
        "principal": row["claimed_principal"],
        "principal_from": "token claims (unchecked: the update was refused)",
        "code": refusal_code(row["reason"]),
        "reason": row["reason"],
        "data_sha256": row["data_sha256"],
        "data_size": row["data_size"],
    }
