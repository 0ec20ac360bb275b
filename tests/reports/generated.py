"""A seeded random ledger written straight into the tables, and the same data kept as plain Python.

The tests compute every figure from `Generated` with plain loops (nothing shared with reports/), so a
wrong query disagrees with them. Cases are opened on both sides of the window's edges.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ledger.schema import cases, escalations, referrals, satisfaction, sla_clocks
from ledger.store import Ledger

MERCHANTS = ["M-1", "M-2", "M-3", "M-4", "M-5", None]
CATEGORIES = ["apparel", "phones", "shoes", "fresh", None]
PRIORITIES = ["P1", "P2", "P3", None]
CASE_TYPES = ["complaint", "return", "repair", "refund_only"]
CHANNELS = ["app", "web", "hotline"]
CLOCKS = {"acknowledge": 24 * 3600, "resolve": 72 * 3600, "refund": 7 * 86400}
STATUSES = ["met", "met", "met", "breached", "running", "paused", "stopped"]


@dataclass
class Generated:
    cases: list[dict[str, Any]] = field(default_factory=list)
    clocks: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    referrals: list[dict[str, Any]] = field(default_factory=list)


def generate(seed: int, n: int, first: dt.datetime, days: int) -> Generated:
    pick = random.Random(seed)
    out = Generated()
    for index in range(n):
        case_id = f"G-{index}"
        opened = first + dt.timedelta(seconds=pick.randrange(days * 86400))
        out.cases.append(
            {
                "case_id": case_id,
                "case_type": pick.choice(CASE_TYPES),
                "merchant": pick.choice(MERCHANTS),
                "category": pick.choice(CATEGORIES),
                "channel": pick.choice(CHANNELS),
                "priority": pick.choice(PRIORITIES),
                "policy_id": "generated",
                "policy_version": "0" * 64,
                "opened_at": opened,
            }
        )
        for clock in pick.sample(sorted(CLOCKS), pick.randrange(3)):
            for round_ in range(1, pick.choice([2, 2, 2, 3])):
                out.clocks.append(_clock(pick, case_id, clock, round_, opened))
        for seq in range(pick.choice([0, 0, 1, 1, 2])):
            responded = pick.random() < 0.7
            score = pick.randint(1, 5) if responded else None
            out.answers.append(_fact(case_id, 100 + seq, opened) | {"responded": responded, "score": score})
        for seq in range(pick.choice([0, 0, 0, 1, 2])):
            out.escalations.append(
                _fact(case_id, 200 + seq, opened) | {"ladder": "l", "step": "level", "level": 1, "cause": "case"}
            )
        if pick.random() < 0.15:
            out.referrals.append(_fact(case_id, 300, opened) | {"kind": "mediation"})
            if pick.random() < 0.5:
                out.referrals.append(_fact(case_id, 301, opened) | {"kind": "regulator"})
    return out


def _fact(case_id: str, seq: int, opened: dt.datetime) -> dict[str, Any]:
    return {"case_id": case_id, "seq": seq, "at": opened + dt.timedelta(hours=1)}


def _clock(pick: random.Random, case_id: str, clock: str, round_: int, opened: dt.datetime) -> dict[str, Any]:
    status = pick.choice(STATUSES)
    target = 0 if pick.random() < 0.05 else CLOCKS[clock]
    running = pick.randrange(1, 3 * CLOCKS[clock])
    # A breached clock may still run toward its stop; every other decided one has ended.
    ended = status in ("met", "stopped") or (status == "breached" and pick.random() < 0.7)
    return {
        "case_id": case_id,
        "clock": clock,
        "round": round_,
        "time_base": "working_days" if clock == "refund" and pick.random() < 0.3 else "calendar",
        "target_seconds": target,
        "started_at": opened,
        "due_at": opened + dt.timedelta(seconds=target),
        "status": status,
        "running_seconds": running,
        "paused_seconds": 0,
        "ended_at": opened + dt.timedelta(seconds=running) if ended else None,
        "last_seq": 10,
    }


def write(ledger: Ledger, data: Generated) -> None:
    with ledger.engine.begin() as db:
        for table, rows in (
            (cases, data.cases),
            (sla_clocks, data.clocks),
            (satisfaction, data.answers),
            (escalations, data.escalations),
            (referrals, data.referrals),
        ):
            if rows:
                db.execute(sa.insert(table), rows)
