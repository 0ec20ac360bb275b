"""One refused update as the refusal log keeps it: names, the reason, the data's digest and size.

Built inside the workflow sandbox from the update's input, so it is a pure function of its arguments.
Whatever the caller wrote is kept only when it is a name (an event, a role, a principal), and the
data never: its SHA-256 and size say whether two attempts carried the same data, or whether they
match a token's `dig`, without the ledger holding a customer's phone number. The token's principal
is read from its claims WITHOUT checking them (it was refused, perhaps for a forged signature), so
the column says `claimed_principal`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import asdict, dataclass
from typing import Any

from service.identity.admission import claimed_role, unverified_claims
from service.identity.grants import PRINCIPAL_NAME
from service.identity.tokens import canonical_json, opening
from workflows.contract import workflow_id_for

CASE_PREFIX = workflow_id_for("")
# Event, role and case type names: what the policies and tokens use (`open:return` for an opening).
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")
MAX_ID = 1000  # Temporal's own limit on ids; the bound on an update id kept
MAX_REASON = 1000  # characters of a reason kept (reasons are short; the bound keeps a record small)


@dataclass(frozen=True)
class Refusal:
    """A row of the ledger's `refusals` table."""

    case_id: str
    update_id: str
    at: dt.datetime
    update_name: str
    event: str | None
    role: str | None
    claimed_principal: str | None
    reason: str
    data_sha256: str | None
    data_size: int | None

    def row(self) -> dict[str, Any]:
        return asdict(self)


def refusal_of(
    *, workflow_id: str, update_id: str, update_name: str, args: Any, reason: str, at: dt.datetime
) -> Refusal:
    """The record of an update refused with `reason`; `args` are the update's arguments as decoded."""
    request = args[0] if len(args) == 1 else None
    token = getattr(request, "token", None)
    token = token if isinstance(token, str) else None
    case_type = getattr(request, "case_type", None)
    if isinstance(case_type, str):  # an `open` update: its event and role are those its token names
        event: Any = opening(case_type)
        role: Any = claimed_role(token)
    else:
        event = getattr(request, "name", None)
        role = getattr(request, "role", None)
    digest, size = _digest(getattr(request, "data", None))
    return Refusal(
        case_id=workflow_id.removeprefix(CASE_PREFIX)[:MAX_ID],
        update_id=update_id[:MAX_ID],
        at=at.astimezone(dt.UTC),
        update_name=update_name if _is_name(update_name) else "(not a name)",
        event=event if _is_name(event) else None,
        role=role if _is_name(role) else None,
        claimed_principal=_claimed_principal(token),
        reason=reason[:MAX_REASON],
        data_sha256=digest,
        data_size=size,
    )


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and NAME.match(value) is not None


def _claimed_principal(token: str | None) -> str | None:
    issuer = unverified_claims(token).get("iss")
    return issuer if isinstance(issuer, str) and PRINCIPAL_NAME.match(issuer) else None


def _digest(data: Any) -> tuple[str | None, int | None]:
    """Hex SHA-256 and size in bytes of the data's canonical JSON (that of a token's `dig`)."""
    try:
        canonical = canonical_json(data)
    except (TypeError, ValueError):  # data JSON cannot hold (NaN): nothing to compare with
        return None, None
    return hashlib.sha256(canonical).hexdigest(), len(canonical)
