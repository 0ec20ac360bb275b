"""`python -m bench [--quick|--full] [--only NAME...]`: run the benchmarks, print tables, write JSON.

Every figure is a ratio against a baseline measured in the same run, on the same machine; the
results go to bench/results/NAME.json and a Markdown summary to bench/results/summary.md.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from bench.common import RESULTS, Result, console, machine

# Cheapest first, so that a quick look gives the pure-core figures within a minute.
BENCHMARKS = ["decisions", "policy_load", "simulation", "whatif", "replay", "endtoend", "idle", "reports"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a few minutes on 2 cores (default)")
    mode.add_argument("--full", action="store_true", help="the sizes the README quotes")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these")
    args = parser.parse_args(argv)
    quick = not args.full
    # A deployed worker runs from compiled bytecode. Without it (PYTHONDONTWRITEBYTECODE) the workflow
    # sandbox compiles the workflow module from source for every case it starts, which would be
    # measured as engine overhead.
    sys.dont_write_bytecode = False
    names = args.only or BENCHMARKS
    info = machine()
    console.print(
        f"[bold]aftersales benchmarks[/] ({'quick' if quick else 'full'}) on {info['cpu']}, "
        f"{info['cores']} cores, {info['memory_gb']} GB, Python {info['python']}"
    )
    results: list[Result] = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        start = time.perf_counter()
        result: Result = module.run(quick)
        result.data["wall_seconds"] = time.perf_counter() - start
        console.print(result.table())
        for note in result.notes:
            console.print(f"  {note}")
        path = result.write("quick" if quick else "full")
        console.print(f"  [dim]{path.relative_to(RESULTS.parent.parent)} ({result.data['wall_seconds']:.0f} s)[/]")
        results.append(result)
    summary = [
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB, Python {info['python']}, "
        f"{info['system']}. Mode: {'quick' if quick else 'full'}.",
        "",
    ]
    for r in results:
        summary += [f"**{r.title}**", "", r.markdown(), ""] + [f"{n}" for n in r.notes] + [""]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "summary.md").write_text("\n".join(summary), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
