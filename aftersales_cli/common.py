"""Shared pieces of the command line: the console, exit codes, loading policies with clean errors."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import typer
from rich.console import Console

from policy_engine.loader import load_policy_set
from policy_engine.problems import PolicyError
from policy_engine.selection import PolicySet

# soft_wrap: a line of text is never cut at the terminal width (tables still fit themselves).
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2

DEFAULT_POLICY_DIR = Path("policies")


def policy_dir_option() -> Path:
    return typer.Option(DEFAULT_POLICY_DIR, "--policies", "-p", help="The policy folder.")  # type: ignore[no-any-return]


def print_problems(exc: PolicyError) -> None:
    for problem in exc.problems:
        # Plain print: these lines are read by editors and CI, so no wrapping or markup.
        print(str(problem))


def load_or_exit(paths: Sequence[Path], *, exit_code: int = EXIT_INVALID) -> PolicySet:
    """Load a policy set; on problems print them as FILE:LINE:COL and exit."""
    try:
        return load_policy_set(list(paths))
    except PolicyError as exc:
        print_problems(exc)
        raise typer.Exit(exit_code) from None
