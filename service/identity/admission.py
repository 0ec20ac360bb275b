"""Whether a case admits a call: the token checked against the grants, the jti not seen in the case.

Pure (no clock, file or network): the workflow's update validators call `admit` with the worker's
current grants and the workflow's time; the `check_caller` activity calls it for a signalled event,
so that its verdict is recorded in the history and a replay gives the same answer.

`CallerGate` is the worker-level object the workflow reads the grants through (registered per task
queue by `CaseActivities`): the workflow does no I/O, it asks the gate for the grants in force.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from service.identity.grants import Grants
from service.identity.tokens import CallerRefused, verify_token

CALLER_MODES = ("signed", "open")  # AFTERSALES_CALLERS
REPLAYED = "replayed_token"
NO_GATE = "no_grants"


@dataclass(frozen=True)
class Admission:
    admitted: bool
    code: str = ""
    reason: str = ""
    principal: str | None = None
    jti: str | None = None
    expires: int | None = None  # the token's `exp` (seconds), to forget its jti after it


def admit(
    token: str | None,
    grants: Grants,
    *,
    mode: str,
    case_id: str,
    event: str,
    data: Any,
    role: str,
    now: dt.datetime,
    seen_jtis: Collection[str] = (),
) -> Admission:
    """Admitted only with a token that verifies for this case, event, role and data at `now`, and
    whose jti the case has not seen; in mode `open` (migration) an unsigned call is admitted too."""
    if mode == "open" and (token is None or not token.strip()):
        return Admission(True, code="unsigned")
    try:
        verified = verify_token(token, grants, case_id=case_id, event=event, data=data, role=role, now=now)
    except CallerRefused as exc:
        return Admission(False, exc.code, exc.reason)
    if verified.jti in seen_jtis:
        return Admission(
            False, REPLAYED, "the token was used before in this case (`jti`): sign each call when sending it"
        )
    return Admission(
        True, principal=verified.principal.name, jti=verified.jti, expires=int(verified.expires_at.timestamp())
    )


def claimed_role(token: str | None) -> str:
    """The `role` a token claims, unverified (an opening's role is the one its token asserts; `verify`
    then checks it against the principal's grants). "" when there is none to read."""
    if not token:
        return ""
    try:
        part = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError, UnicodeDecodeError):
        return ""
    role = claims.get("role") if isinstance(claims, dict) else None
    return role if isinstance(role, str) else ""


@dataclass
class CallerGate:
    """The worker's callers setting and its grants in force (a GrantsWatcher's `current`)."""

    mode: str
    grants: Callable[[], Grants] = field(default=lambda: Grants())

    def __post_init__(self) -> None:
        if self.mode not in CALLER_MODES:
            raise ValueError(f"AFTERSALES_CALLERS must be one of {', '.join(CALLER_MODES)}, not '{self.mode}'")

    def admit(self, token: str | None, **kwargs: Any) -> Admission:
        return admit(token, self.grants(), mode=self.mode, **kwargs)


_GATES: dict[str, CallerGate] = {}


def register_gate(task_queue: str, gate: CallerGate) -> None:
    _GATES[task_queue] = gate


def gate_for(task_queue: str) -> CallerGate | None:
    return _GATES.get(task_queue)


def no_gate() -> Admission:
    return Admission(False, NO_GATE, "this worker has no grants to check callers against: every caller is refused")


def unverified_claims(token: str | None) -> dict[str, Any]:
    """A token's claims without checking them (only for one that was admitted already)."""
    if not token:
        return {}
    try:
        part = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (IndexError, ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def remember(seen: dict[str, int], jti: str | None, exp: Any, now: dt.datetime, limit: int) -> None:
    """Note an admitted token's id; forget those expired (with the leeway) and the oldest beyond `limit`."""
    if not jti:
        return
    at = now.timestamp()
    for old in [k for k, e in seen.items() if e + 60 < at]:
        del seen[old]
    seen[jti] = exp if isinstance(exp, int) and not isinstance(exp, bool) else int(at)
    while len(seen) > limit:
        del seen[next(iter(seen))]
