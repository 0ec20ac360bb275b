"""`build_report`: a report of one kind over a window of the ledger, every figure against its target."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from ledger.store import Ledger
from ledger.urls import check_url
from reports import figures
from reports.definitions import DEFINITIONS
from reports.model import Charts, Figure, GroupBy, Report, ReportKind, Row
from reports.targets import Targets
from reports.window import Window

DEFAULT_TIMEZONE = "Asia/Shanghai"
PERCENTS = (50, 90)
HOUR = 3600


def build_report(
    ledger: Ledger,
    kind: ReportKind,
    start: dt.date,
    end: dt.date,
    by: GroupBy | None = None,
    targets: Targets | None = None,
    *,
    timezone: str = DEFAULT_TIMEZONE,
    charts: bool = True,
) -> Report:
    """The `kind` report of the cases opened from `start` (included) to `end` (excluded), days in `timezone`.

    `charts`: compute the charts' data too (four more passes over the window); only the HTML page
    draws it, so the table, JSON and CSV go without.

    Raises ValueError for a window that ends before it starts or a merchants report grouped otherwise.
    """
    if kind == "merchants" and by not in (None, "merchant"):
        raise ValueError("the merchants report is grouped by merchant (leave out --by)")
    window = Window(start, end, timezone)
    goals = targets or Targets()
    with _reading(ledger) as db:
        if kind == "sla":
            rows = _sla_rows(db, window, by, goals)
        elif kind == "satisfaction":
            rows = _satisfaction_rows(db, window, by, goals)
        else:
            rows = _merchant_rows(db, window, goals)
        drawn = _charts(db, window, goals) if charts else None
    return Report(
        kind=kind,
        start=start,
        end=end,
        timezone=timezone,
        by="merchant" if kind == "merchants" else by,
        rows=rows,
        charts=drawn,
        definitions=list(DEFINITIONS[kind]),
    )


def _charts(db: sa.Connection, window: Window, goals: Targets) -> Charts:
    return Charts(
        on_time_target=goals.sla.on_time_rate,
        weekly=figures.weekly(db, window),
        slowest_merchants=figures.slowest(db, window, "merchant"),
        slowest_categories=figures.slowest(db, window, "category"),
        distribution=figures.distribution(db, window),
    )


@contextmanager
def _reading(ledger: Ledger) -> Iterator[sa.Connection]:
    """A connection that only reads. On SQLite not the ledger's own engine, whose transactions take the
    write lock at their start (for its writers): a report must not hold up the workers writing cases."""
    parsed = check_url(ledger.url)
    if not parsed.drivername.startswith("sqlite"):
        with ledger.engine.connect() as db:
            yield db
        return
    engine = sa.create_engine(parsed)
    try:
        with engine.connect() as db:
            yield db
    finally:
        engine.dispose()


def _keys(names: dict[str, Any]) -> dict[str, str]:
    return {name: figures.NONE if value is None else str(value) for name, value in names.items()}


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _satisfaction_rate(counts: dict[str, int], target: float) -> Figure:
    """Of the follow-ups answered, the share answered satisfied (the satisfaction and merchants reports)."""
    return Figure(name="satisfaction_rate", value=_rate(counts["satisfied"], counts["responded"]), target=target)


def _hours(seconds: int | None) -> float | None:
    return None if seconds is None else seconds / HOUR


def _sla_rows(db: sa.Connection, window: Window, by: GroupBy | None, goals: Targets) -> list[Row]:
    counted = figures.sla_counts(db, window, by)
    group_names = ["clock", "time_base", *([by] if by else [])]
    handled = {tuple(c[name] for name in group_names): int(c["handled"]) for c in counted}
    percentiles = figures.handled_percentiles(db, window, by, handled, PERCENTS)
    rows = []
    for c in counted:
        key = tuple(c[name] for name in group_names)
        found = percentiles.get(key, {})
        counts = {
            name: int(c[name]) for name in ("cases", "clocks", "met", "breached", "running", "stopped", "handled")
        }
        rows.append(
            Row(
                keys=_keys({name: c[name] for name in group_names}),
                counts=counts,
                hours={
                    "median": _hours(found.get(50)),
                    "p90": _hours(found.get(90)),
                    "max": _hours(c["longest"]),
                },
                figures=[
                    Figure(
                        name="on_time_rate",
                        value=_rate(counts["met"], counts["met"] + counts["breached"]),
                        target=goals.sla.on_time_for(c["clock"]),
                    )
                ],
            )
        )
    return sorted(rows, key=lambda row: tuple(row.keys.values()))


def _satisfaction_rows(db: sa.Connection, window: Window, by: GroupBy | None, goals: Targets) -> list[Row]:
    wanted = goals.satisfaction
    counted = figures.satisfaction_counts(db, window, by, wanted.satisfied_score)
    rows = []
    for key, found in counted.items():
        if not found.get("cases"):  # an ungrouped count of no cases at all
            continue
        counts = {
            name: found.get(name, 0)
            for name in ("cases", "follow_ups", "responded", "satisfied", "escalated", "mediated", "referred")
        }
        rows.append(
            Row(
                keys=_keys(dict(zip([by], key, strict=True)) if by else {}),
                counts=counts,
                figures=[
                    _satisfaction_rate(counts, wanted.satisfaction_rate),
                    Figure(
                        name="response_rate",
                        value=_rate(counts["responded"], counts["follow_ups"]),
                        target=wanted.response_rate,
                    ),
                ],
            )
        )
    return sorted(rows, key=lambda row: tuple(row.keys.values()))


def _merchant_rows(db: sa.Connection, window: Window, goals: Targets) -> list[Row]:
    wanted = goals.merchants
    opened = figures.merchant_counts(db, window)
    answers = figures.satisfaction_counts(db, window, "merchant", goals.satisfaction.satisfied_score)
    rows = []
    for merchant, found in opened.items():
        answered = answers.get((merchant,), {})
        counts = {
            "cases": found["cases"],
            "complaints": found["complaints"],
            "met": found.get("met", 0),
            "breached": found.get("breached", 0),
            "responded": answered.get("responded", 0),
            "satisfied": answered.get("satisfied", 0),
        }
        rows.append(
            Row(
                keys=_keys({"merchant": merchant}),
                counts=counts,
                figures=[
                    Figure(
                        name="breach_rate",
                        value=_rate(counts["breached"], counts["met"] + counts["breached"]),
                        target=wanted.breach_rate,
                        at_least=False,
                    ),
                    _satisfaction_rate(counts, wanted.satisfaction_rate),
                    Figure(
                        name="complaint_share",
                        value=_rate(counts["complaints"], counts["cases"]),
                        target=wanted.complaint_share,
                        at_least=False,
                    ),
                ],
            )
        )
    return sorted(rows, key=lambda row: row.keys["merchant"])
