"""Generate many scenarios from the shipped policy tests: each copy gets its own case id and all
its dates moved by whole weeks, so the engine meets other weekdays, holidays and make-up days."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from policy_engine.testing import scenario_files

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "policies" / "tests"


def _shift(value: Any, delta: dt.timedelta) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value + delta
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-" and value[7:8] == "-":
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        shifted = parsed + delta
        return shifted.isoformat() if "T" in value else shifted.date().isoformat()
    if isinstance(value, dict):
        return {k: _shift(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift(v, delta) for v in value]
    return value


def templates() -> list[dict[str, Any]]:
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in scenario_files([TEMPLATES])]


def generate(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`count` scenarios, cycling through every template so each loop is represented in proportion."""
    rng = random.Random(seed)
    base = templates()
    for n in range(count):
        template = base[n % len(base)]
        # Whole weeks keep working-day arithmetic comparable; stay inside the 2026-2027 calendar.
        delta = dt.timedelta(weeks=rng.randint(0, 20))
        scenario = _shift(template, delta)
        scenario["case_id"] = f"{template['case_id']}-G{n:05d}"
        scenario.pop("expect", None)  # expectations belong to the original dates
        yield scenario


def write(folder: Path, count: int, seed: int = 7) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, scenario in enumerate(generate(count, seed)):
        path = folder / f"s{n:05d}.yaml"
        path.write_text(yaml.safe_dump(scenario, allow_unicode=True, sort_keys=False), encoding="utf-8")
        paths.append(path)
    return paths
