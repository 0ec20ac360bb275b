"""`aftersales risk check|schedule`: the merchant risk watch (docs/risk.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from aftersales_cli.common import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    console,
    err_console,
    policy_dir,
    policy_dir_option,
    print_problems,
    settings,
    show_time,
)
from aftersales_cli.ledger_cmds import shown, unreachable
from ledger.database import engine_for
from ledger.urls import DatabaseUrlError
from policy_engine.language import PolicyError
from policy_engine.language.durations import Exact, parse_duration
from risk.rules import RULES_FILE, RiskRules, load_rules
from risk.schedule import SCHEDULE_ID, ensure_schedule
from risk.watch import Check, check
from service import connect_client

risk_app = typer.Typer(help="The merchant risk watch: rules, checks and their schedule.", no_args_is_help=True)

AS_OF_HELP = (
    "write an ISO time with its offset (2026-11-30T09:00:00+08:00), a date (midnight in AFTERSALES_TIMEZONE) or now"
)


def parse_as_of(text: str, zone: ZoneInfo, now: dt.datetime) -> dt.datetime:
    """The end of a check's window; raises ValueError naming the option, never echoing the value."""
    text = text.strip()
    if text == "now":
        return now
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--as-of is not a time: {AS_OF_HELP}") from None
    if len(text) == 10:  # a date alone: the start of that day where the operator is
        return moment.replace(tzinfo=zone)
    if moment.tzinfo is None:
        raise ValueError(f"--as-of needs a UTC offset: {AS_OF_HELP}")
    return moment


def rules_or_exit(policies: Path) -> RiskRules:
    try:
        return load_rules(policies / RULES_FILE, str(policies / RULES_FILE))
    except PolicyError as exc:
        print_problems(exc)
        raise typer.Exit(EXIT_INVALID) from None


@risk_app.command("check")
def check_command(
    as_of: str = typer.Option("now", "--as-of", help="The end of the window (default: now). " + AS_OF_HELP),
    database: str | None = typer.Option(
        None, "--database", help="The ledger's URL (default: AFTERSALES_DATABASE_URL)", show_default=False
    ),
    policies: Path | None = policy_dir_option("The policy folder holding compliance/merchant_risk.yaml."),
) -> None:
    """Every merchant's figures in the rules' window, and the rules each one crosses."""
    zone = ZoneInfo(settings().display_timezone)
    try:
        end = parse_as_of(as_of, zone, dt.datetime.now(dt.UTC))
    except ValueError as exc:
        err_console.print(str(exc), markup=False)
        raise typer.Exit(EXIT_INVALID) from None
    rules = rules_or_exit(policy_dir(policies))
    url = database or settings().database_url
    try:
        engine = engine_for(url)
    except DatabaseUrlError as exc:
        err_console.print(f"--database: {exc}", markup=False)
        raise typer.Exit(EXIT_INVALID) from None
    try:
        found = check(engine, rules, end)
    except SQLAlchemyError as exc:
        raise unreachable(url, exc) from None
    finally:
        engine.dispose()
    print_check(found, rules, shown(url))
    raise typer.Exit(EXIT_OK)


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def print_check(found: Check, rules: RiskRules, where: str) -> None:
    console.print(
        f"merchants with cases opened from {show_time(found.start)} to {show_time(found.end)} in {where}",
        markup=False,
    )
    crossed = {flag.merchant: flag.crossed for flag in found.flagged}
    table = Table()
    for heading in (
        "merchant",
        "cases",
        "complaints",
        "complaint rate",
        "breach rate",
        "satisfaction",
        "rules crossed",
    ):
        table.add_column(heading, justify="left" if heading in ("merchant", "rules crossed") else "right")
    for figures in found.merchants:
        rules_crossed = ", ".join(c.rule.id for c in crossed.get(figures.merchant, ()))
        table.add_row(
            figures.merchant,
            str(figures.cases),
            str(figures.complaints),
            _rate(figures.complaint_rate),
            _rate(figures.breach_rate),
            _rate(figures.satisfaction_rate),
            rules_crossed,
        )
    console.print(table)
    for rule in rules.rules:
        console.print(f"  {rule.id}: {rule.explain()}", markup=False)
    console.print(
        f"{len(found.flagged)} of {len(found.merchants)} merchants cross a rule "
        f"(rates judged from {rules.min_cases} cases; - : nothing to divide by)",
        markup=False,
    )


@risk_app.command("schedule")
def schedule_command(
    every: str = typer.Option("1d", "--every", help="How often the watch runs: 1d, 12h, 7d."),
) -> None:
    """Create the Temporal Schedule that runs the risk watch, or update its interval (idempotent)."""
    try:
        interval = parse_duration(every)
    except ValueError:
        interval = None
    if not isinstance(interval, Exact) or interval.seconds < 60:
        err_console.print("--every is a length of time of a minute or more: write 1d, 12h or 7d", markup=False)
        raise typer.Exit(EXIT_INVALID)
    config = settings()

    async def go() -> str:
        client = await connect_client(config)
        return await ensure_schedule(client, dt.timedelta(seconds=interval.seconds), config.task_queue)

    try:
        said = asyncio.run(go())
    except RuntimeError:  # the SDK's connection failure, with gRPC internals in its text
        err_console.print(f"cannot reach a Temporal server at {config.address}", markup=False)
        raise typer.Exit(EXIT_FAILED) from None
    console.print(
        f"schedule {SCHEDULE_ID} {said}: the risk watch runs every {every} on task queue {config.task_queue}",
        markup=False,
    )
    raise typer.Exit(EXIT_OK)
