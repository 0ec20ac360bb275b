"""`aftersales audit verify`: does each case's record follow from its pinned policy and its inputs?"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from aftersales_cli.common import EXIT_FAILED, EXIT_INVALID, EXIT_OK, console, err_console, settings
from audit.bundle import audit_bundle
from audit.bundle_html import render_html
from audit.cases import case_ids_matching, closed_since_query, fetch_cases, parse_since
from audit.files import write_private
from audit.history import CaseHistory, HistoryError, load_history_file, read_histories
from audit.refusals import LedgerUnreadable, refused_attempts
from audit.verify import Verdict, verify_case
from policy_engine.testing import Scenario

app = typer.Typer(help="Audit real cases against their pinned policies.", no_args_is_help=True)


@app.command("verify")
def verify(
    case_ids: list[str] = typer.Argument(None, help="Case ids (R-1001 ...).", show_default=False),
    closed_since: str | None = typer.Option(
        None, "--closed-since", help="Every case closed since this date (2026-11-01) or time.", show_default=False
    ),
    query: str | None = typer.Option(
        None, "--query", help="A visibility query narrowing the cases (\"CaseType='return'\").", show_default=False
    ),
    history: list[Path] = typer.Option(
        None,
        "--history",
        help="Verify an exported history instead (JSON, `temporal workflow show --output json`); "
        "repeat for each run of a case continued as new.",
        show_default=False,
    ),
) -> None:
    """Replay each case's events, timers and action results on the policy it pinned and compare
    transitions, actions, decisions and SLA outcomes with what the case recorded.

    Prints `CASE verified`, or each divergence with the input where it starts. Exit 0: all
    verified; 1: some diverged; 2: a case could not be read or the input is wrong.
    """
    zone = ZoneInfo(settings().display_timezone)
    if history:
        if case_ids or closed_since is not None or query is not None:
            err_console.print("give either --history FILE or cases to fetch, not both", markup=False)
            raise typer.Exit(EXIT_INVALID)
        _verify_files(history, zone)
    if not case_ids and closed_since is None and query is None:
        err_console.print("give case ids, --closed-since DATE, --query Q or --history FILE", markup=False)
        raise typer.Exit(EXIT_INVALID)
    since = None
    if closed_since is not None:
        try:
            since = parse_since(closed_since)
        except ValueError as exc:
            err_console.print(str(exc), markup=False)
            raise typer.Exit(EXIT_INVALID) from None
    verdicts, unread = asyncio.run(_verify_all(list(case_ids or []), since, query, zone))
    _print_summary(verdicts, unread)
    if unread:
        raise typer.Exit(EXIT_INVALID)
    raise typer.Exit(EXIT_FAILED if any(not v.verified for v in verdicts) else EXIT_OK)


@app.command("show")
def show(
    case_id: str | None = typer.Argument(None, help="The case id (R-1001).", show_default=False),
    output_format: str = typer.Option("json", "--format", help="json or html (one self-contained page)."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write here (0600) instead of standard output.", show_default=False
    ),
    history: list[Path] = typer.Option(
        None, "--history", help="Read exported histories instead of the server (each run).", show_default=False
    ),
    database: str | None = typer.Option(
        None,
        "--database",
        help="The ledger holding the refused attempts (default: AFTERSALES_DATABASE_URL).",
        show_default=False,
    ),
) -> None:
    """The case's audit bundle: who did what and when, the attempts it refused, the pinned policy and its hash, decisions with
    their rule ids, transitions, SLA clocks against their targets, effects and their delivery, and the
    verification result.

    It holds the case's personal data: the file is written 0600.
    """
    if output_format not in ("json", "html"):
        err_console.print("--format: json or html", markup=False)
        raise typer.Exit(EXIT_INVALID)
    if (case_id is None) == (not history):
        err_console.print("give a case id or --history FILE", markup=False)
        raise typer.Exit(EXIT_INVALID)
    case = _read_files(history) if history else asyncio.run(_fetch_one(case_id or ""))
    verdict = verify_case(case, ZoneInfo(settings().display_timezone))
    try:
        refusals = refused_attempts(database or settings().database_url, case.case_id)
    except LedgerUnreadable as exc:
        err_console.print(f"--database: {exc}", markup=False)
        raise typer.Exit(EXIT_INVALID) from None
    bundle = audit_bundle(case, verdict, _outbox_rows(case.case_id), refusals)
    text = render_html(bundle) if output_format == "html" else json.dumps(bundle, ensure_ascii=False, indent=2) + "\n"
    if out is None:
        print(text, end="")
        return
    write_private(out, text)
    err_console.print(f"wrote {out}", markup=False)


def _outbox_rows(case_id: str) -> list[dict[str, Any]] | None:
    """The case's effects as the outbox has them; None where this machine has no outbox."""
    from activities.outbox import Outbox
    from aftersales_cli.case_cmds import sqlite_file

    location = settings().outbox_location  # where the worker writes them (AFTERSALES_OUTBOX or the ledger's database)
    file = location if isinstance(location, Path) else sqlite_file(location)
    if file is not None and not file.exists():
        return None
    return Outbox(location).list(case_id=case_id)


async def _fetch_one(case_id: str) -> CaseHistory:
    from service.settings import connect_client

    client = await connect_client(settings())
    async for _, case in fetch_cases(client, [case_id]):
        if isinstance(case, str):
            err_console.print(case, markup=False)
            raise typer.Exit(EXIT_FAILED)
        return case
    raise typer.Exit(EXIT_FAILED)


def _read_files(paths: list[Path]) -> CaseHistory:
    from service.codec import data_converter_for
    from service.codec_keys import CodecKeyError

    try:
        runs = [load_history_file(path) for path in paths]
        return asyncio.run(read_histories(runs, data_converter_for(settings())))
    except (HistoryError, CodecKeyError) as exc:
        err_console.print(str(exc), markup=False)
        raise typer.Exit(EXIT_INVALID) from None


def _verify_files(paths: list[Path], zone: ZoneInfo) -> None:
    """One case from its exported runs' histories, read with the project's codec keys; exits."""
    verdict = verify_case(_read_files(paths), zone)
    _print_verdict(verdict)
    raise typer.Exit(EXIT_OK if verdict.verified else EXIT_FAILED)


async def _verify_all(
    case_ids: list[str], since: dt.datetime | None, query: str | None, zone: ZoneInfo
) -> tuple[list[Verdict], list[str]]:
    from service.settings import connect_client

    client = await connect_client(settings())
    if since is not None or query is not None:
        case_ids += [c for c in await case_ids_matching(client, closed_since_query(since, query)) if c not in case_ids]
    if not case_ids:
        err_console.print("no case matches", markup=False)
    verdicts: list[Verdict] = []
    unread: list[str] = []
    progress = _progress(len(case_ids))
    task = None if progress is None else progress.add_task("verifying", total=len(case_ids))
    if progress is not None:
        progress.start()
    try:
        async for _, case in fetch_cases(client, case_ids):
            if isinstance(case, str):
                unread.append(case)
                err_console.print(case, markup=False)
            else:
                verdict = verify_case(case, zone)
                verdicts.append(verdict)
                _print_verdict(verdict)
            if progress is not None and task is not None:
                progress.advance(task)
    finally:
        if progress is not None:
            progress.stop()
    return verdicts, unread


def _progress(total: int) -> Progress | None:
    if total < 2 or not err_console.is_terminal:
        return None
    return Progress(
        TextColumn("verifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )


def _print_verdict(verdict: Verdict) -> None:
    if verdict.verified:
        console.print(f"{verdict.case_id} verified", markup=False)
    else:
        console.print(f"{verdict.case_id} diverged:", markup=False)
        for divergence in verdict.divergences:
            console.print(f"  {divergence}", markup=False)
    for note in verdict.notes:
        console.print(f"  note: {note}", markup=False)


def _print_summary(verdicts: list[Verdict], unread: list[str]) -> None:
    if len(verdicts) + len(unread) < 2:
        return
    table = Table(title="verification")
    table.add_column("verified", justify="right")
    table.add_column("diverged", justify="right")
    table.add_column("not read", justify="right")
    diverged = sum(1 for v in verdicts if not v.verified)
    table.add_row(str(len(verdicts) - diverged), str(diverged), str(len(unread)))
    console.print(table)


def past_cases_or_exit(query: str | None, closed_since: str | None) -> list[Scenario]:
    """`simulate --compare --cases Q | --closed-since DATE`: the real cases as scenarios, or exit 2."""
    from audit.whatif import past_case_scenarios
    from service.settings import connect_client

    async def load() -> tuple[list[Scenario], list[str]]:
        return await past_case_scenarios(await connect_client(settings()), query, closed_since)

    try:
        scenarios, unread = asyncio.run(load())
    except ValueError as exc:
        err_console.print(str(exc), markup=False)
        raise typer.Exit(EXIT_INVALID) from None
    for reason in unread:
        err_console.print(reason, markup=False)
    if unread or not scenarios:
        err_console.print("no past case matches" if not unread else "some cases could not be read", markup=False)
        raise typer.Exit(EXIT_INVALID)
    return scenarios
