"""`aftersales report sla|satisfaction|merchants|targets`: compliance reports from the case ledger (docs/reports.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from sqlalchemy.exc import SQLAlchemyError

from aftersales_cli.common import (
    EXIT_FAILED,
    EXIT_INVALID,
    err_console,
    load_or_exit,
    policy_dir,
    policy_dir_option,
    print_problems,
    settings,
    where,
)
from aftersales_cli.ledger_cmds import unreachable
from ledger.store import Ledger
from ledger.urls import DatabaseUrlError, check_url
from policy_engine.language import PolicyError
from reports import FORMATS, build_report, render
from reports.model import GROUPS, GroupBy, ReportKind
from reports.targets import Targets, load_targets, targets_path

app = typer.Typer(
    help="Compliance reports from the case ledger, every figure against its target.", no_args_is_help=True
)


def _refuse(message: str) -> typer.Exit:
    err_console.print(f"aftersales: {message}", markup=False)
    return typer.Exit(EXIT_INVALID)


def _day(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _refuse(f"{option}: not a date; write YYYY-MM-DD") from None


def _targets(policies: Path | None) -> Targets:
    path = targets_path(policy_dir(policies))
    try:
        return load_targets(path, display=where(path))
    except PolicyError as exc:
        print_problems(exc)
        raise typer.Exit(EXIT_INVALID) from None


def _ledger(database: str | None) -> Ledger:
    url = database or settings().database_url
    try:
        parsed = check_url(url)
    except DatabaseUrlError as exc:
        raise _refuse(f"--database: {exc}") from None
    if parsed.drivername.startswith("sqlite") and not Path(str(parsed.database)).expanduser().exists():
        raise _refuse(f"no ledger at {parsed.database}: record cases first (the worker, or simulate --record-to)")
    return Ledger(url)


def _report(
    kind: ReportKind,
    start: str,
    end: str,
    by: str | None,
    fmt: str,
    database: str | None,
    out: Path | None,
    policies: Path | None,
) -> None:
    first, last = _day(start, "--from"), _day(end, "--to")
    if last <= first:
        raise _refuse("--to must be after --from (the window is from --from to --to, excluded)")
    if by is not None and by not in GROUPS:
        raise _refuse(f"--by: use one of {', '.join(GROUPS)}")
    if kind == "merchants" and by not in (None, "merchant"):
        raise _refuse("--by: the merchants report is grouped by merchant")
    if fmt not in FORMATS:
        raise _refuse(f"--format: use one of {', '.join(FORMATS)}")
    group: GroupBy | None = by  # type: ignore[assignment]  # checked against GROUPS above
    targets = _targets(policies)
    ledger = _ledger(database)
    try:
        report = build_report(ledger, kind, first, last, group, targets, timezone=settings().display_timezone)
    except SQLAlchemyError as exc:
        raise unreachable(ledger.url, exc) from None
    finally:
        ledger.close()
    text = render(report, fmt)
    if out is None:
        print(text, end="")
        return
    out.write_text(text, encoding="utf-8")
    err_console.print(f"{kind} report: {len(report.rows)} rows written to {where(out)}", markup=False)


_FROM = typer.Option(
    ..., "--from", help="First day (YYYY-MM-DD, in AFTERSALES_TIMEZONE), included.", show_default=False
)
_TO = typer.Option(
    ..., "--to", help="Last day, excluded: --from 2026-11-01 --to 2026-12-01 is November.", show_default=False
)
_FORMAT = typer.Option("table", "--format", "-f", help=f"One of {', '.join(FORMATS)}.")
_DATABASE = typer.Option(
    None, "--database", help="The ledger's URL (default: AFTERSALES_DATABASE_URL).", show_default=False
)
_OUT = typer.Option(None, "--out", "-o", help="Write to this file instead of the standard output.", show_default=False)


def _by(kinds: str) -> str | None:
    return typer.Option(None, "--by", help=f"Group by {kinds}.", show_default=False)  # type: ignore[no-any-return]


@app.command("sla")
def sla(
    start: str = _FROM,
    end: str = _TO,
    by: str | None = _by(", ".join(GROUPS)),
    fmt: str = _FORMAT,
    database: str | None = _DATABASE,
    out: Path | None = _OUT,
    policies: Path | None = policy_dir_option("The policy folder whose compliance/targets.yaml applies."),
) -> None:
    """Per SLA clock: cases, met, breached, still running, on-time rate, median / p90 / max time to handle."""
    _report("sla", start, end, by, fmt, database, out, policies)


@app.command("satisfaction")
def satisfaction(
    start: str = _FROM,
    end: str = _TO,
    by: str | None = _by(", ".join(GROUPS)),
    fmt: str = _FORMAT,
    database: str | None = _DATABASE,
    out: Path | None = _OUT,
    policies: Path | None = policy_dir_option("The policy folder whose compliance/targets.yaml applies."),
) -> None:
    """Satisfaction and response rates of the follow-ups; escalated, mediated and referred cases."""
    _report("satisfaction", start, end, by, fmt, database, out, policies)


@app.command("merchants")
def merchants(
    start: str = _FROM,
    end: str = _TO,
    fmt: str = _FORMAT,
    database: str | None = _DATABASE,
    out: Path | None = _OUT,
    policies: Path | None = policy_dir_option("The policy folder whose compliance/targets.yaml applies."),
) -> None:
    """Per merchant: cases, complaints, breach rate, satisfaction rate and complaint share."""
    _report("merchants", start, end, None, fmt, database, out, policies)


@app.command("targets")
def targets(policies: Path | None = policy_dir_option()) -> None:
    """Check compliance/targets.yaml: every problem as FILE:LINE:COL: message (exit 1 if any)."""
    folder = policy_dir(policies)
    policy_set = load_or_exit([folder], exit_code=EXIT_FAILED)
    clocks = {name for resolved in policy_set.policies.values() for name in resolved.policy.sla}
    path = targets_path(folder)
    try:
        loaded = load_targets(path, clocks, display=where(path))
    except PolicyError as exc:
        print_problems(exc)
        raise typer.Exit(EXIT_FAILED) from None
    said = "ok" if path.exists() else "no file, the platform defaults apply"
    err_console.print(
        f"{where(path)}: {said}; on-time >= {loaded.sla.on_time_rate:.0%}, "
        f"satisfaction >= {loaded.satisfaction.satisfaction_rate:.0%}",
        markup=False,
    )
