"""The reports benchmark at a tiny size: it loads what it says and measures every report against its baseline."""

from __future__ import annotations

from bench.reports import KINDS, rows
from bench.reports import run as run_bench


def test_the_benchmark_runs_at_a_tiny_size() -> None:
    generated = list(rows(300))
    result = run_bench(quick=True, size=300, with_postgres=False)

    loaded = result.data["SQLite"]["rows"]
    assert loaded == {name: sum(table == name for table, _ in generated) for name in loaded}
    assert loaded["cases"] == 300
    assert [row[0] for row in result.rows] == [
        f"{kind} report{drawn}, SQLite" for kind in KINDS for drawn in ("", " as html")
    ]
    assert all(row[3] > 0 for row in result.rows)  # a ratio of two measured times
