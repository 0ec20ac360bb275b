"""What a new case's start may ask for beyond its opening request: the worker's configuration decides.

A case opens at the server's time. A caller-supplied `opened_at` away from it, or a clock offset (a
case run at other dates than today's), is backdating: a capability of the worker (importing
historical cases, the test harness that replays policy tests at their own dates), off by default
(`AFTERSALES_ALLOW_BACKDATING`). The workflow states the claims (`workflows.trust.start_claims`);
the `resolve_policy` activity judges them here, so that the verdict is in the case's history and a
worker whose setting changed since replays the cases it allowed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from workflows.contract import OPENING_SKEW_SECONDS, ResolveRequest

SKEW = dt.timedelta(seconds=OPENING_SKEW_SECONDS)
DEFAULT_MAX_AGE_DAYS = 400
MIN_HISTORY_LIMIT = 10  # a start that may set the history limit still may not make a case continue as new at once
BACKDATING_OFF = "this worker does not accept backdated cases (AFTERSALES_ALLOW_BACKDATING is off)"


@dataclass(frozen=True)
class Backdating:
    """Whether (and how far) the worker lets a start set the case's time.

    `max_age`: how far before the server's time a case may have opened (or its clock run).
    `max_ahead`: how far after it the case's clock may run (the test harness runs policy tests dated
    in the coming year); an `opened_at` is never after the case's own clock by more than the skew.
    `history_limit`: whether a start may set the history limit (the history recorder's
    continue-as-new path; never from the environment).
    """

    allowed: bool = False
    max_age: dt.timedelta = dt.timedelta(days=DEFAULT_MAX_AGE_DAYS)
    max_ahead: dt.timedelta = SKEW
    history_limit: bool = False


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} hours"
    if seconds >= 120:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds:.0f} seconds"


def start_refusal(request: ResolveRequest, backdating: Backdating) -> str | None:
    """Why the worker refuses what this start asks for, or None (nothing asked, or allowed)."""
    claims = request.claims
    if claims is None:
        return None
    server = claims.server_time
    offset = dt.timedelta(seconds=claims.clock_offset_seconds)
    clock = server + offset  # the case's clock
    opened_at = request.opened_at
    if claims.history_limit is not None:
        if not backdating.history_limit:
            return "a start may not set history_limit: the case keeps its own across continue-as-new"
        if claims.history_limit < MIN_HISTORY_LIMIT:
            return f"history_limit must be at least {MIN_HISTORY_LIMIT}, not {claims.history_limit}"
    if not backdating.allowed:
        if offset:
            return f"a start may not move the case's clock ({claims.clock_offset_seconds:+.0f} s): {BACKDATING_OFF}"
        if opened_at < server - SKEW:
            return (
                f"opened_at {opened_at.isoformat()} is {_span((server - opened_at).total_seconds())} before the "
                f"server's time and {BACKDATING_OFF}: leave opened_at out to open the case now"
            )
    elif clock < server - backdating.max_age or opened_at < server - backdating.max_age:
        return (
            f"the case would open {_span((server - min(clock, opened_at)).total_seconds())} before the server's "
            f"time, more than the {backdating.max_age.days} days this worker allows (AFTERSALES_BACKDATING_MAX_DAYS)"
        )
    elif clock > server + backdating.max_ahead:
        return (
            f"a start may not move the case's clock {_span(claims.clock_offset_seconds)} ahead of the server's "
            "time: a case cannot open in the future"
        )
    if opened_at > clock + SKEW:
        now = "the case's clock" if offset else "the server's time"
        return (
            f"opened_at {opened_at.isoformat()} is {_span((opened_at - clock).total_seconds())} after {now}: "
            "a case cannot open in the future"
        )
    return None
