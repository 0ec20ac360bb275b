"""Policy load: the time to read, validate and compile a policy set, each in a fresh process (no
compiled expression is cached from an earlier load). Baseline: the default set."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, Result

# Run in a child process: imports done first, then only the load is timed.
_CHILD = """
import json, sys, time
from pathlib import Path
from policy_engine.language import load_policy_set
start = time.perf_counter()
policies = load_policy_set([Path(sys.argv[1])])
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "policies": len(policies.policies)}))
"""

OVERRIDE = """policies:
  - policy: {base}-merchant-{n:04d}
    extends: {base}
    title: Merchant M-9{n:04d} grants {days}-day no-reason returns
    when: case.order.merchant_id == 'M-9{n:04d}'
    effective_from: 2026-06-01
    windows:
      no_reason_return:
        length: {days} calendar days
"""


def with_overrides(folder: Path, count: int) -> None:
    shutil.copytree(ROOT / "policies", folder, ignore=shutil.ignore_patterns("tests"))
    bases = ["return-default", "exchange-default"]
    for n in range(count):
        text = OVERRIDE.format(base=bases[n % len(bases)], n=n, days=8 + n % 23)
        (folder / "overrides" / f"gen-{n:04d}.yaml").write_text(text, encoding="utf-8")


def _time_load(folder: Path, repeats: int) -> tuple[float, int, list[float]]:
    times: list[float] = []
    count = 0
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", _CHILD, str(folder)], cwd=ROOT, capture_output=True, check=True)
        data = json.loads(out.stdout)
        times.append(data["seconds"])
        count = data["policies"]
    return statistics.median(times), count, times


def run(quick: bool) -> Result:
    repeats = 3 if quick else 7
    result = Result(
        "policy_load",
        "Policy load: read, validate and compile, fresh process (median)",
        ["policy set", "policies", "milliseconds", "ratio to default set"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        default_folder = Path(tmp) / "default"
        shutil.copytree(ROOT / "policies", default_folder, ignore=shutil.ignore_patterns("tests"))
        big = Path(tmp) / "overrides"
        with_overrides(big, 200)
        base_s, base_n, base_all = _time_load(default_folder, repeats)
        big_s, big_n, big_all = _time_load(big, repeats)
    result.rows.append(["default (policies/)", base_n, base_s * 1000, 1.0])
    result.rows.append(["default + 200 merchant overrides", big_n, big_s * 1000, big_s / base_s])
    result.data = {"default_seconds": base_all, "overrides_seconds": big_all}
    return result
