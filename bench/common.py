"""What every benchmark shares: the machine it ran on, repeated timing, tables and JSON results."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
console = Console(stderr=True)


def machine() -> dict[str, Any]:
    """Where the figures came from: they only compare within one run, on one machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def best_rate(run: Callable[[], int], repeats: int = 5, min_seconds: float = 0.2) -> tuple[float, list[float]]:
    """Operations per second: each repeat runs `run` (which returns how many it did) for at least
    `min_seconds`; the best repeat is reported (the least disturbed by other processes), all are kept."""
    rates: list[float] = []
    for _ in range(repeats):
        done = 0
        start = time.perf_counter()
        while True:
            done += run()
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        rates.append(done / elapsed)
    return max(rates), rates


def median_seconds(run: Callable[[], object], repeats: int = 5) -> tuple[float, list[float]]:
    times: list[float] = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


@dataclass
class Result:
    """One benchmark: rows of figures, each with its baseline and the ratio between them."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def table(self) -> Table:
        table = Table(title=self.title, title_justify="left")
        for c in self.columns:
            table.add_column(c, justify="left" if c == self.columns[0] else "right")
        for row in self.rows:
            table.add_row(*[fmt(v) for v in row])
        return table

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in self.rows]
        return "\n".join(lines)

    def write(self, mode: str) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.name}.json"
        payload = {
            "name": self.name,
            "title": self.title,
            "mode": mode,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "columns": self.columns,
            "rows": self.rows,
            "notes": self.notes,
            "data": self.data,
        }
        path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
        return path


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
