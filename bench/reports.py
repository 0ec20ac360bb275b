"""Reports over a large generated ledger (1,000,000 cases with --full), on SQLite and on PostgreSQL.

The baseline, in the same run on the same database: one aggregate pass over the cases of the window
joined to their SLA clocks (`count` and `sum`), the least any SLA report must read. The ratio says
how much more the report costs than reading its rows once. PostgreSQL is a throwaway cluster started
as the tests start theirs (tests/ledger/postgres.py); rows are bulk-loaded with COPY there, with
executemany on SQLite.
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from bench.common import Result, console, median_seconds
from ledger.schema import cases, satisfaction, sla_clocks
from ledger.store import Ledger
from reports import build_report
from reports.figures import in_window
from reports.model import ReportKind
from reports.window import Window

START, END = dt.date(2026, 1, 1), dt.date(2027, 1, 1)
FIRST = dt.datetime(2025, 12, 31, 16, tzinfo=dt.UTC)  # 2026-01-01 00:00 in Asia/Shanghai
ZONE = "Asia/Shanghai"
CHUNK = 50_000
KINDS: tuple[ReportKind, ...] = ("sla", "satisfaction", "merchants")
CLOCKS = (("acknowledge", 24 * 3600), ("resolve", 72 * 3600), ("refund", 7 * 86400))
STATUSES = ("met", "met", "met", "met", "met", "met", "breached", "running", "stopped")


def rows(size: int, seed: int = 15) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, row) for `size` cases over the year: one to three clocks each, a follow-up for one in four."""
    pick = random.Random(seed)
    for n in range(size):
        case_id = f"B-{n}"
        opened = FIRST + dt.timedelta(seconds=pick.randrange(365 * 86400))
        complaint = pick.random() < 0.3
        yield (
            "cases",
            {
                "case_id": case_id,
                "case_type": "complaint" if complaint else "return",
                "merchant": f"M-{pick.randrange(2000)}",
                "category": f"cat-{pick.randrange(40)}",
                "channel": pick.choice(("app", "web", "hotline")),
                "priority": pick.choice(("P1", "P2", "P3")),
                "policy_id": "bench",
                "policy_version": "0" * 64,
                "opened_at": opened,
                "refund_total": 0,
            },
        )
        for clock, target in CLOCKS[:2] if complaint else CLOCKS[2:]:  # a complaint's two clocks, or a refund
            status = pick.choice(STATUSES)
            running = pick.randrange(1, 2 * target)
            ended = opened + dt.timedelta(seconds=running) if status != "running" else None
            yield (
                "sla_clocks",
                {
                    "case_id": case_id,
                    "clock": clock,
                    "round": 1,
                    "time_base": "calendar",
                    "target_seconds": target,
                    "started_at": opened,
                    "due_at": opened + dt.timedelta(seconds=target),
                    "status": status,
                    "running_seconds": running,
                    "paused_seconds": 0,
                    "ended_at": ended,
                    "last_seq": 5,
                },
            )
        if pick.random() < 0.25:
            responded = pick.random() < 0.8
            yield (
                "satisfaction",
                {
                    "case_id": case_id,
                    "seq": 9,
                    "at": opened + dt.timedelta(days=3),
                    "responded": responded,
                    "score": pick.randint(1, 5) if responded else None,
                },
            )


TABLES = {"cases": cases, "sla_clocks": sla_clocks, "satisfaction": satisfaction}


def load(ledger: Ledger, size: int) -> dict[str, int]:
    """Bulk-load `size` generated cases; returns the rows written per table."""
    written = dict.fromkeys(TABLES, 0)
    batches: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    postgres = ledger.engine.dialect.name == "postgresql"
    with ledger.engine.begin() as db:
        for name, row in rows(size):
            batches[name].append(row)
            if len(batches[name]) >= CHUNK:
                _write(db, name, batches[name], postgres)
                written[name] += len(batches[name])
                batches[name] = []
        for name, batch in batches.items():
            _write(db, name, batch, postgres)
            written[name] += len(batch)
    with ledger.engine.begin() as db:
        db.exec_driver_sql("ANALYZE")  # the planner's statistics, as a database that has lived a while has them
    return written


def _write(db: sa.Connection, name: str, batch: list[dict[str, Any]], postgres: bool) -> None:
    if not batch:
        return
    table = TABLES[name]
    if not postgres:
        db.execute(sa.insert(table), batch)
        return
    columns = list(batch[0])
    raw: Any = db.connection.driver_connection
    with raw.cursor().copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in batch:
            copy.write_row([row[c] for c in columns])


def _baseline(ledger: Ledger) -> int:
    window = Window(START, END, ZONE)
    query = (
        sa.select(sa.func.count(), sa.func.sum(sla_clocks.c.running_seconds))
        .select_from(sla_clocks.join(cases, sla_clocks.c.case_id == cases.c.case_id))
        .where(in_window(window))
    )
    with ledger.engine.connect() as db:
        return int(db.execute(query).one()[0])


def measure(result: Result, url: str, label: str, size: int, repeats: int) -> None:
    ledger = Ledger(url)
    try:
        ledger.upgrade()
        loaded, load_seconds = _timed(lambda: load(ledger, size))
        console.print(f"  {label}: loaded {loaded} in {load_seconds:.0f} s")
        base, _ = median_seconds(lambda: _baseline(ledger), repeats)
        result.data[label] = {"rows": loaded, "load_seconds": load_seconds, "baseline_seconds": base}
        for kind in KINDS:
            # As `aftersales report` builds it: the table, JSON and CSV without the charts' data, HTML with it.
            for charts, suffix in ((False, ""), (True, " as html")):
                took, _ = median_seconds(lambda kind=kind, charts=charts: _report(ledger, kind, charts), repeats)  # type: ignore[misc]
                result.data[label][kind + suffix] = took
                result.rows.append(
                    [f"{kind} report{suffix}, {label}", f"{took:.2f} s", f"one pass: {base:.2f} s", took / base]
                )
    finally:
        ledger.close()


def _report(ledger: Ledger, kind: ReportKind, charts: bool) -> None:
    build_report(ledger, kind, START, END, timezone=ZONE, charts=charts)


def _timed(run: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    value = run()
    return value, time.perf_counter() - started


def run(quick: bool, size: int | None = None, with_postgres: bool = True) -> Result:
    size = size or (100_000 if quick else 1_000_000)
    repeats = 3 if quick else 2
    result = Result(
        name="reports",
        title=f"Reports over {size:,} generated ledger cases (a year, cases opened in it)",
        columns=["report", "ours", "baseline", "ratio"],
    )
    result.data["cases"] = size
    with tempfile.TemporaryDirectory(prefix="aftersales-bench-") as folder:
        measure(result, f"sqlite:///{folder}/ledger.sqlite3", "SQLite", size, repeats)
    if with_postgres:
        _on_postgres(result, size, repeats)
    result.notes.append(
        "baseline: count and sum over the window's cases joined to their SLA clocks, on the same database; "
        "ratio = report time / baseline time; `as html`: with the charts' data (weekly points, slowest lists, "
        "histogram), which only the HTML page draws"
    )
    return result


def _on_postgres(result: Result, size: int, repeats: int) -> None:
    # The tests' throwaway cluster (initdb in a temporary folder, a socket there, no TCP), not a copy of it.
    from tests.ledger.postgres import Cluster, _bindir, _server_user

    bindir = _bindir()
    if bindir is None:
        result.notes.append("PostgreSQL: not measured, no initdb found (pg_config --bindir)")
        return
    cluster = Cluster(bindir, _server_user())
    try:
        url = cluster.start()
        measure(result, url, "PostgreSQL 15", size, repeats)
    finally:
        cluster.stop()
