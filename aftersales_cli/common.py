"""Shared pieces of the command line: the console, exit codes, settings, loading policies with clean errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from policy_engine.language import PolicyError, PolicySet, load_policy_set
from service import Settings

# soft_wrap: a line of text is never cut at the terminal width (tables still fit themselves).
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The settings from the environment; a wrong variable is named and the command stops."""
    try:
        return Settings.from_env()
    except ValueError as exc:
        err_console.print(f"aftersales: {exc}", markup=False)
        raise typer.Exit(EXIT_INVALID) from None


def policy_dir(given: Path | None) -> Path:
    """The folder a command reads: the one given, else the project's (AFTERSALES_POLICY_DIR, searched upwards)."""
    return given if given is not None else Path(settings().policy_dir)


def policy_dir_option(help_text: str = "The policy folder (default: the project's policies/).") -> Any:
    return typer.Option(None, "--policies", "-p", help=help_text, show_default=False)


def where(path: Path) -> str:
    """A folder as a person wants to read it: relative to here when it is below here."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)


def show_time(value: dt.datetime | str | None, *, short: bool = False) -> str:
    """A moment in the display zone (AFTERSALES_TIMEZONE), to the second: one format in every table.

    `short`: to the minute and without the offset, for narrow tables that name the zone in a header.
    """
    if value is None or value == "":
        return ""
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    local = moment.astimezone(ZoneInfo(settings().display_timezone))
    if short:
        return local.strftime("%Y-%m-%d %H:%M")
    offset = local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M:%S ") + offset[:3] + ":" + offset[3:]


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
