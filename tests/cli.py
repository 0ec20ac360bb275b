"""Run the `aftersales` command as a user does, in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def aftersales(
    *args: str, stdin: str | None = None, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "aftersales_cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        input=stdin,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "HOME": str(ROOT), "PYTHONPATH": str(ROOT), **(env or {})},
        timeout=120,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result
