"""The mutation score of the core, per package, from the results of the last `mutmut run`.

`make mutation` runs mutmut over the engine and the language checks (configured in pyproject.toml,
`[tool.mutmut]`), then this script reads its per-file results (`mutants/**/*.py.meta`) and prints,
per package: mutants, killed, surviving mutants known to be equivalent (listed with the reason in
`equivalent/<module>.yaml` next to this file: mutant name -> why no test can tell it apart), surviving mutants not known to be, and the score

    killed / (mutants - equivalent)

It fails (exit code 1) when a package scores below its floor, when a mutant of the engine survives
without being listed as equivalent, or when `equivalent/` lists a mutant that no longer exists
or no longer survives (the list must not rot). `--survivors` prints each unlisted survivor's diff.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MUTANTS = ROOT / "mutants"
EQUIVALENT = Path(__file__).with_name("equivalent")

# The packages scored, and the least share of non-equivalent mutants their tests must kill.
FLOORS = {"policy_engine.engine": 0.90, "policy_engine.language": 0.90}
# Every surviving mutant of these packages must be killed or explained in equivalent.yaml.
EXPLAIN_EVERY_SURVIVOR = ("policy_engine.engine",)

# mutmut's exit codes (mutmut/stats.py): 1 and 3 mean a test failed, 0 that every test passed.
KILLED = {1, 3}
SURVIVED = {0}
NO_TESTS = {5, 33}
TIMEOUT = {24, -24, 152, 255, 36}


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    unexplained: list[str] = field(default_factory=list)

    @property
    def scored(self) -> int:
        return sum(self.outcomes.values()) - self.outcomes["equivalent"]

    @property
    def score(self) -> float:
        # A timeout counts as killed (the mutant made the tests hang, which a run notices).
        return (self.outcomes["killed"] + self.outcomes["timeout"]) / self.scored if self.scored else 1.0


def package_of(mutant: str) -> str:
    """`policy_engine.engine.sla.x_start__mutmut_3` -> `policy_engine.engine`."""
    return ".".join(mutant.split(".")[:2])


def outcome_of(code: int | None) -> str:
    if code is None:
        return "not run"
    if code in KILLED:
        return "killed"
    if code in SURVIVED:
        return "survived"
    if code in NO_TESTS:
        return "no tests"
    if code in TIMEOUT:
        return "timeout"
    return "suspicious"


def results() -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    for meta in sorted(MUTANTS.glob("**/*.py.meta")):
        found.update(json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"])
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--survivors", action="store_true", help="show the diff of each unexplained survivor")
    args = parser.parse_args()
    codes = results()
    if not codes:
        print("no mutmut results under mutants/: run `make mutation` first", file=sys.stderr)
        return 2
    equivalent: dict[str, str] = {}
    for listed in sorted(EQUIVALENT.glob("*.yaml")):
        equivalent.update(yaml.safe_load(listed.read_text(encoding="utf-8")) or {})
    tallies: dict[str, Tally] = {}
    for mutant, code in codes.items():
        tally = tallies.setdefault(package_of(mutant), Tally())
        outcome = outcome_of(code)
        if outcome == "survived" and mutant in equivalent:
            outcome = "equivalent"
        elif outcome in ("survived", "no tests"):
            tally.unexplained.append(mutant)
        tally.outcomes[outcome] += 1

    failed = False
    columns = ("killed", "timeout", "equivalent", "survived", "no tests", "not run", "suspicious")
    print(f"{'package':<24}{'mutants':>9}" + "".join(f"{c:>12}" for c in columns) + f"{'score':>9}")
    for package, tally in sorted(tallies.items()):
        total = sum(tally.outcomes.values())
        row = f"{package:<24}{total:>9}" + "".join(f"{tally.outcomes[c]:>12}" for c in columns)
        print(f"{row}{tally.score:>9.1%}")
        floor = FLOORS.get(package)
        if floor is not None and tally.score < floor:
            print(f"  {package}: {tally.score:.1%} is below its floor of {floor:.0%}")
            failed = True
        if package in EXPLAIN_EVERY_SURVIVOR and tally.unexplained:
            print(f"  {package}: {len(tally.unexplained)} surviving mutants are neither killed nor explained")
            failed = True
        if tally.outcomes["not run"] or tally.outcomes["suspicious"]:
            failed = True

    stale = sorted(m for m in equivalent if outcome_of(codes.get(m)) != "survived")
    for mutant in stale:
        print(f"  equivalent/: {mutant} {'no longer exists' if mutant not in codes else 'no longer survives'}")
    failed = failed or bool(stale)

    unexplained = sorted(m for t in tallies.values() for m in t.unexplained)
    if unexplained:
        print(f"\n{len(unexplained)} unexplained survivors (`mutmut show NAME` shows one):")
        for mutant in unexplained:
            print(f"  {mutant}")
            if args.survivors:
                diff = subprocess.run(
                    [sys.executable, "-m", "mutmut", "show", mutant], capture_output=True, text=True, cwd=ROOT
                ).stdout
                print("    " + diff.strip().replace("\n", "\n    "))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
