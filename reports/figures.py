"""The report's figures from the ledger: SQLAlchemy Core queries that read the same on SQLite and PostgreSQL.

Counts and sums are aggregated in SQL. Percentiles are not (SQLite has none): the handled times are
streamed in order, one group after another, and the nearest-rank positions picked on the way, so
memory stays flat whatever the number of cases. Every query reads the cases opened in the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from ledger.schema import cases, escalations, referrals, satisfaction, sla_clocks
from reports.model import Bucket, GroupBy, Slowest, WeekPoint
from reports.window import Window

NONE = "(none)"  # a group whose value the case did not have (no merchant, no category)
STREAM_BATCH = 10_000
# The time-to-handle histogram: tenths of the target, the last bucket at twice the target or more.
BUCKETS_PER_TARGET = 10
LAST_BUCKET = 2 * BUCKETS_PER_TARGET
SLOWEST_SHOWN = 10

_clock_cases = sla_clocks.join(cases, sla_clocks.c.case_id == cases.c.case_id)
_decided = sla_clocks.c.status.in_(("met", "breached"))
# Handled: the clock reached its stop, on time or late. Its running time is its time to handle.
_handled = sa.and_(_decided, sla_clocks.c.ended_at.is_not(None))


def in_window(window: Window) -> sa.ColumnElement[bool]:
    return sa.and_(cases.c.opened_at >= window.opened_from, cases.c.opened_at < window.opened_before)


def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _groups(by: GroupBy | None) -> list[sa.ColumnElement[Any]]:
    return [] if by is None else [cases.c[by]]


def _name(value: Any) -> str:
    return NONE if value is None else str(value)


def sla_counts(db: sa.Connection, window: Window, by: GroupBy | None) -> list[dict[str, Any]]:
    """Per clock, time base and group: cases, clocks, met, breached, running, stopped, handled, longest."""
    groups = _groups(by)
    status = sla_clocks.c.status
    query = (
        sa.select(
            sla_clocks.c.clock,
            sla_clocks.c.time_base,
            *groups,
            sa.func.count(sa.distinct(sla_clocks.c.case_id)).label("cases"),
            sa.func.count().label("clocks"),
            _count_if(status == "met").label("met"),
            _count_if(status == "breached").label("breached"),
            _count_if(status.in_(("running", "paused"))).label("running"),
            _count_if(status == "stopped").label("stopped"),
            _count_if(_handled).label("handled"),
            sa.func.max(sa.case((_handled, sla_clocks.c.running_seconds))).label("longest"),
        )
        .select_from(_clock_cases)
        .where(in_window(window))
        .group_by(sla_clocks.c.clock, sla_clocks.c.time_base, *groups)
    )
    return [dict(row._mapping) for row in db.execute(query)]


def handled_percentiles(
    db: sa.Connection, window: Window, by: GroupBy | None, handled: dict[tuple[Any, ...], int], percents: Sequence[int]
) -> dict[tuple[Any, ...], dict[int, int]]:
    """Nearest-rank percentiles of the time to handle (seconds) per (clock, time base, group).

    `handled`: how many handled clocks each group has (from `sla_counts`): the p-th percentile is the
    value at rank ceil(p * n / 100) in ascending order, the same definition on every database.
    """
    groups = _groups(by)
    query = (
        sa.select(sla_clocks.c.clock, sla_clocks.c.time_base, *groups, sla_clocks.c.running_seconds)
        .select_from(_clock_cases)
        .where(in_window(window), _handled)
        .order_by(sla_clocks.c.clock, sla_clocks.c.time_base, *groups, sla_clocks.c.running_seconds)
        .execution_options(stream_results=True, yield_per=STREAM_BATCH)
    )
    found: dict[tuple[Any, ...], dict[int, int]] = {}
    key: tuple[Any, ...] | None = None
    position = 0
    wanted: dict[int, list[int]] = {}
    for row in db.execute(query):
        here = tuple(row[:-1])
        if here != key:
            key, position = here, 0
            n = handled[here]
            wanted = {}
            for percent in percents:
                wanted.setdefault(-(-percent * n // 100), []).append(percent)  # ceil without floats
            found[here] = {}
        position += 1
        for percent in wanted.get(position, ()):
            found[here][percent] = int(row[-1])
    return found


def satisfaction_counts(
    db: sa.Connection, window: Window, by: GroupBy | None, satisfied_score: int
) -> dict[tuple[Any, ...], dict[str, int]]:
    """Per group: cases, follow-ups, responded, satisfied, escalated / mediated / referred cases."""
    groups = _groups(by)
    out: dict[tuple[Any, ...], dict[str, int]] = {}

    def add(query: sa.Select[Any]) -> None:
        for row in db.execute(query.where(in_window(window)).group_by(*groups)):
            values = row._mapping
            key = tuple(values[g.name] for g in groups)  # type: ignore[attr-defined]
            counts = out.setdefault(key, {})
            counts.update({name: int(value) for name, value in values.items() if name not in key_names})

    key_names = {g.name for g in groups}  # type: ignore[attr-defined]
    add(sa.select(*groups, sa.func.count().label("cases")).select_from(cases))
    answered = satisfaction.c.responded.is_(True)
    add(
        sa.select(
            *groups,
            sa.func.count().label("follow_ups"),
            _count_if(answered).label("responded"),
            _count_if(sa.and_(answered, satisfaction.c.score >= satisfied_score)).label("satisfied"),
        ).select_from(satisfaction.join(cases, satisfaction.c.case_id == cases.c.case_id))
    )
    add(
        sa.select(*groups, sa.func.count(sa.distinct(escalations.c.case_id)).label("escalated")).select_from(
            escalations.join(cases, escalations.c.case_id == cases.c.case_id)
        )
    )
    add(
        sa.select(
            *groups,
            sa.func.count(sa.distinct(sa.case((referrals.c.kind == "mediation", referrals.c.case_id)))).label(
                "mediated"
            ),
            sa.func.count(sa.distinct(sa.case((referrals.c.kind == "regulator", referrals.c.case_id)))).label(
                "referred"
            ),
        ).select_from(referrals.join(cases, referrals.c.case_id == cases.c.case_id))
    )
    return out


def merchant_counts(db: sa.Connection, window: Window) -> dict[Any, dict[str, int]]:
    """Per merchant: cases, complaints, met and breached clocks."""
    out: dict[Any, dict[str, int]] = {}
    opened = sa.select(
        cases.c.merchant,
        sa.func.count().label("cases"),
        _count_if(cases.c.case_type == "complaint").label("complaints"),
    ).where(in_window(window))
    for row in db.execute(opened.group_by(cases.c.merchant)):
        out[row.merchant] = {"cases": int(row.cases), "complaints": int(row.complaints)}
    status = sla_clocks.c.status
    clocks = (
        sa.select(
            cases.c.merchant,
            _count_if(status == "met").label("met"),
            _count_if(status == "breached").label("breached"),
        )
        .select_from(_clock_cases)
        .where(in_window(window))
    )
    for row in db.execute(clocks.group_by(cases.c.merchant)):
        out[row.merchant] |= {"met": int(row.met), "breached": int(row.breached)}
    return out


def weekly(db: sa.Connection, window: Window) -> list[WeekPoint]:
    """Met and breached clocks per week of the cases' opening."""
    starts = window.weeks()
    bounds = [window.moment(day) for day in starts[1:]]
    status = sla_clocks.c.status
    counts = (_count_if(status == "met").label("met"), _count_if(status == "breached").label("breached"))
    if bounds:
        week = sa.case(*((cases.c.opened_at < bound, index) for index, bound in enumerate(bounds)), else_=len(bounds))
        query = sa.select(week.label("week"), *counts).select_from(_clock_cases).where(in_window(window)).group_by(week)
    else:  # a window of one week (a weekly publication): SQL has no CASE without a WHEN, nor anything to group
        query = (
            sa.select(sa.literal_column("0").label("week"), *counts).select_from(_clock_cases).where(in_window(window))
        )
    found = {int(row.week): (int(row.met), int(row.breached)) for row in db.execute(query)}
    return [
        WeekPoint(week=day, met=found.get(i, (0, 0))[0], breached=found.get(i, (0, 0))[1])
        for i, day in enumerate(starts)
    ]


def _share_of_target() -> sa.ColumnElement[Any]:
    return sa.cast(sla_clocks.c.running_seconds, sa.Float) / sla_clocks.c.target_seconds


def slowest(db: sa.Connection, window: Window, column: str) -> list[Slowest]:
    """The merchants or categories whose handled clocks took the largest share of their target, on average."""
    share = sa.func.avg(_share_of_target())
    query = (
        sa.select(cases.c[column].label("name"), share.label("share"), sa.func.count().label("clocks"))
        .select_from(_clock_cases)
        .where(in_window(window), _handled, sla_clocks.c.target_seconds > 0)
        .group_by(cases.c[column])
        .order_by(share.desc(), cases.c[column])
        .limit(SLOWEST_SHOWN)
    )
    return [
        Slowest(name=_name(row.name), share_of_target=float(row.share), clocks=int(row.clocks))
        for row in db.execute(query)
    ]


def distribution(db: sa.Connection, window: Window) -> list[Bucket]:
    """Handled clocks per tenth of their target (time to handle / target), the last bucket open-ended."""
    running, target = sla_clocks.c.running_seconds, sla_clocks.c.target_seconds
    bucket = sa.case(
        (running * BUCKETS_PER_TARGET >= target * LAST_BUCKET, LAST_BUCKET),
        else_=running * BUCKETS_PER_TARGET // target,
    )
    query = (
        sa.select(bucket.label("bucket"), sa.func.count().label("clocks"))
        .select_from(_clock_cases)
        .where(in_window(window), _handled, target > 0)
        .group_by(bucket)
    )
    found = {int(row.bucket): int(row.clocks) for row in db.execute(query)}
    return [
        Bucket(
            low=index / BUCKETS_PER_TARGET,
            high=None if index == LAST_BUCKET else (index + 1) / BUCKETS_PER_TARGET,
            clocks=found.get(index, 0),
        )
        for index in range(LAST_BUCKET + 1)
    ]
