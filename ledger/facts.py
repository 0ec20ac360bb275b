"""A case's audit trail as ledger rows: a pure function of the opening and the timeline entries.

`facts_of` reads a batch of entries (any stretch of the trail, with the sequence number of its first
entry) and returns the rows they make. Rows of the fact tables are keyed by (case, entry number), so
the same batch twice gives the same rows. SLA clocks span batches: each clock's row is folded forward
from the row written before (`clocks`), skipping entries it already folded in (`last_seq`). A clock's
target, running and paused time are counted in its time base (ledger/clock_time.py), with the calendar
the opening carries: business seconds for a business-hour clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.clock_time import seconds_in_base
from ledger.opening import CaseOpening, TimeBase
from policy_engine.engine import (
    ActionEntry,
    CloseEntry,
    DecisionEntry,
    EscalationEntry,
    SlaEntry,
    TimelineEntry,
    TransitionEntry,
    TypedEntry,
    typed_entry,
)
from policy_engine.language import Calendar

# Entering these states refers the case to a third party (the complaint loop, docs/loops.md).
REFERRAL_STATES = {"mediation": "mediation", "referred_to_regulator": "regulator"}
# The `record` action that keeps the follow-up's answer: a score 1-5, or anything else for no answer.
SATISFACTION_RECORD = "satisfaction"
# Actions that pay the customer; their `amount` parameter is the money.
PAYMENT_ACTIONS = ("refund", "advance_payment")

Row = dict[str, Any]


@dataclass
class Facts:
    """The rows one batch makes: the case row, rows per fact table, and the clocks it touched."""

    case: Row
    rows: dict[str, list[Row]] = field(default_factory=dict)
    clocks: dict[str, Row] = field(default_factory=dict)  # clock name -> its latest round's row

    def count(self) -> int:
        return 1 + sum(len(rows) for rows in self.rows.values()) + len(self.clocks)


def facts_of(
    opening: CaseOpening,
    entries: Sequence[TimelineEntry | Mapping[str, Any]],
    first_seq: int = 0,
    clocks: Mapping[str, Row] | None = None,
) -> Facts:
    """The rows of `entries`, the audit trail of `opening`'s case from entry number `first_seq` on.

    `clocks`: each clock's latest row as the ledger holds it (missing: the clock has no row yet).
    """
    facts = Facts(case=_case_row(opening))
    folded = {name: dict(row) for name, row in (clocks or {}).items()}
    for seq, raw in enumerate(entries, start=first_seq):
        entry = typed_entry(raw)
        at = utc(entry.at)
        for table, row in _rows_of(opening.case_id, seq, at, entry):
            facts.rows.setdefault(table, []).append(row)
        if isinstance(entry, CloseEntry):
            facts.case |= {"closed_at": at, "final_state": entry.name}
        elif isinstance(entry, SlaEntry):
            before = folded.get(entry.name)
            if before is None or seq > before["last_seq"]:
                base = opening.clocks.get(entry.name, "calendar")
                folded[entry.name] = fold_clock(before, opening.case_id, base, seq, at, entry, opening.calendar)
                facts.clocks[entry.name] = folded[entry.name]
    return facts


def _case_row(opening: CaseOpening) -> Row:
    return {
        "case_id": opening.case_id,
        "case_type": opening.case_type,
        "merchant": opening.merchant,
        "category": opening.category,
        "channel": opening.channel,
        "priority": opening.priority,
        "policy_id": opening.policy_id,
        "policy_version": opening.policy_version,
        "opened_at": utc(opening.opened_at),
    }


def _rows_of(case_id: str, seq: int, at: dt.datetime, entry: TypedEntry) -> list[tuple[str, Row]]:
    key = {"case_id": case_id, "seq": seq, "at": at}
    if isinstance(entry, TransitionEntry):
        detail = entry.detail
        if detail.to is None or detail.via is None:  # a move that was stopped: no transition happened
            return []
        out = [
            (
                "transitions",
                key
                | {
                    "from_state": detail.from_,
                    "to_state": detail.to,
                    "via_kind": detail.via.kind,
                    "via": str(detail.via),
                },
            )
        ]
        if detail.to in REFERRAL_STATES:
            out.append(("referrals", key | {"kind": REFERRAL_STATES[detail.to]}))
        return out
    if isinstance(entry, EscalationEntry):
        ladder = entry.detail
        step = "started" if ladder.started else "stopped" if ladder.stopped else "level"
        return [
            ("escalations", key | {"ladder": entry.name, "step": step, "level": ladder.level, "cause": ladder.cause})
        ]
    if isinstance(entry, DecisionEntry) and entry.detail.rule is not None:
        return [("decisions", key | {"decision": entry.name, "rule": entry.detail.rule})]
    if isinstance(entry, ActionEntry):
        return _action_rows(key, entry)
    return []


def _action_rows(key: Row, entry: ActionEntry) -> list[tuple[str, Row]]:
    params = entry.detail.params or {}
    if entry.detail.error is not None:  # the action did not run
        return []
    if entry.name in PAYMENT_ACTIONS and entry.detail.key and _is_amount(params.get("amount")):
        return [("refunds", key | {"action": entry.name, "amount": params["amount"], "effect_key": entry.detail.key})]
    if entry.name == "escalate" and _is_whole_number(params.get("level")):
        return [("escalations", key | {"ladder": None, "step": "action", "level": params["level"], "cause": None})]
    if entry.name == "record" and params.get("name") == SATISFACTION_RECORD:
        score = params.get("value")
        responded = _is_whole_number(score)
        return [("satisfaction", key | {"responded": responded, "score": score if responded else None})]
    return []


def _is_amount(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def fold_clock(
    before: Row | None,
    case_id: str,
    base: TimeBase,
    seq: int,
    at: dt.datetime,
    entry: SlaEntry,
    calendar: Calendar | None = None,
) -> Row:
    """A clock's row after one of its entries: start, pause, resume, warning, breach or end.

    Running and paused time are the time between the entries in the clock's time base (`base`, with
    `calendar` for working days and business hours); a pause is not running time.
    """
    status = entry.detail.status
    due = utc(dt.datetime.fromisoformat(entry.detail.due)) if entry.detail.due else None
    if status == "running" and (before is None or before["ended_at"] is not None):
        return _new_round(before, case_id, entry.name, base, seq, at, due, calendar)
    assert before is not None, f"clock {entry.name}: a {status} entry before it started"
    row = dict(before) | {"last_seq": seq}
    if status == "running":  # a pause ends
        row |= _end_pause(row, at, calendar) | {"status": "running", "running_since": at, "due_at": due}
    elif status == "paused":
        row |= _end_run(row, at, calendar) | {"status": "paused", "paused_since": at}
    elif status == "warning":
        row["warned_at"] = at
    elif status == "breached" and row["status"] != "breached":  # the target passed; the clock runs on
        row |= {"status": "breached", "breached_at": at}
    else:  # met, stopped, or a breached clock reaching its stop
        row |= _end_run(row, at, calendar) | _end_pause(row, at, calendar) | {"status": status, "ended_at": at}
    return row


def _new_round(
    before: Row | None,
    case_id: str,
    clock: str,
    base: TimeBase,
    seq: int,
    at: dt.datetime,
    due: dt.datetime | None,
    calendar: Calendar | None,
) -> Row:
    return {
        "case_id": case_id,
        "clock": clock,
        "round": before["round"] + 1 if before else 1,
        "time_base": base,
        # In the time base, as running time is: a 72 business-hour target is 72 h whatever the weekends.
        "target_seconds": seconds_in_base(base, calendar, at, due) if due else 0,
        "started_at": at,
        "due_at": due,
        "status": "running",
        "running_seconds": 0,
        "paused_seconds": 0,
        "warned_at": None,
        "breached_at": None,
        "ended_at": None,
        "last_seq": seq,
        "running_since": at,
        "paused_since": None,
    }


def _end_run(row: Row, at: dt.datetime, calendar: Calendar | None) -> Row:
    since = row["running_since"]
    if since is None:
        return {}
    return {"running_seconds": row["running_seconds"] + _seconds(row, since, at, calendar), "running_since": None}


def _end_pause(row: Row, at: dt.datetime, calendar: Calendar | None) -> Row:
    since = row["paused_since"]
    if since is None:
        return {}
    return {"paused_seconds": row["paused_seconds"] + _seconds(row, since, at, calendar), "paused_since": None}


def _seconds(row: Row, since: dt.datetime, at: dt.datetime, calendar: Calendar | None) -> int:
    # The row's own time base, the one its target was counted in when the round started.
    return seconds_in_base(row["time_base"], calendar, utc(since), at)


def utc(moment: dt.datetime) -> dt.datetime:
    """In UTC; a time read back from SQLite (which keeps no offset) was written in UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)
