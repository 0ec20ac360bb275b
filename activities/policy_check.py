"""The child process that loads a policy folder under limits, for the worker to know it is safe.

    python -m activities.policy_check MEMORY_MB CPU_SECONDS FOLDER

It limits its own address space (RLIMIT_AS) and CPU time before importing the language, loads
FOLDER whole, and writes one JSON verdict on its standard output:

    {"ok": true}
    {"ok": false, "problems": [{"file": ..., "line": ..., "col": ..., "message": ...}]}
    {"ok": false, "failure": "RecursionError"}        # the loader raised something else

and exits 0. Running out of memory exits with OUT_OF_MEMORY and no verdict. Anything else the
loader prints goes to standard error, so that it cannot be taken for the verdict. The CPU limit is
a backstop for a child whose worker died before it could enforce its wall-time limit.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from typing import Any

OUT_OF_MEMORY = 3  # the exit status when the limit on memory was reached
USAGE = 2


def main(argv: list[str]) -> int:
    try:
        memory_mb, cpu_seconds, folder = int(argv[0]), int(argv[1]), argv[2]
    except (IndexError, ValueError):
        print("usage: python -m activities.policy_check MEMORY_MB CPU_SECONDS FOLDER", file=sys.stderr)
        return USAGE
    verdict_out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints (Python or C) go to stderr
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    try:
        verdict = check(folder)
    except MemoryError:
        return OUT_OF_MEMORY
    json.dump(verdict, verdict_out)
    verdict_out.close()
    return 0


def check(folder: str) -> dict[str, Any]:
    """The verdict on `folder`, as plain data (no object of the language crosses the process)."""
    from policy_engine.language import PolicyError, load_policy_set  # under the limits set above

    try:
        load_policy_set([folder])
    except PolicyError as exc:
        problems = [{"file": p.file, "line": p.line, "col": p.col, "message": p.message} for p in exc.problems]
        return {"ok": False, "problems": problems}
    except MemoryError:
        raise
    except Exception as exc:  # a bug of the language on this input: named, for the worker to report
        return {"ok": False, "failure": type(exc).__name__}
    return {"ok": True}


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
