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
from typer.core import TyperGroup

from aftersales_cli.common import EXIT_FAILED, EXIT_INVALID, EXIT_OK, console, err_console, settings
from audit.bundle import audit_bundle
from audit.bundle_html import render_html
from audit.cases import case_ids_matching, closed_since_query, fetch_cases, parse_since
from audit.files import write_private
from audit.history import CaseHistory, HistoryError, load_history_file, read_histories
from audit.refusals import LedgerUnreadable, RefusalReader, attempt_of
from audit.verify import Verdict, pinned_of, verify_case
from audit.zones import bundle_zone, readable_time, zone_named
from policy_engine.testing import Scenario


class _ShowByDefault(TyperGroup):
    """`aftersales audit CASE ...` is `aftersales audit show CASE ...`: a first word that names no
    command (and is not an option) is a case id."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # ctx: the CLI library's own Context
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_ShowByDefault,
    help="Audit real cases against their pinned policies: `audit CASE` (the bundle, as `audit show`), `audit verify`.",
    no_args_is_help=True,
)


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
    database: str | None = typer.Option(
        None,
        "--database",
        help="The ledger holding the refused attempts (default: AFTERSALES_DATABASE_URL).",
        show_default=False,
    ),
    output_format: str = typer.Option("text", "--format", help="text, or json (one document on standard output)."),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="List each refused attempt: when, what, its code and reason."
    ),
) -> None:
    """Check that each case's record follows from its pinned policy and its inputs.

    Replays each case's events, timers and action results on the policy it pinned and compares
    transitions, actions, decisions and SLA outcomes with what the case recorded, and counts the
    attempts each case refused (the refusal log in the ledger: reasons and digests, never the data).

    Prints `CASE verified` (`, N refused attempts`), or each divergence with the input where it
    starts. Exit 0: all verified; 1: some diverged; 2: a case could not be read or the input is wrong.
    """
    if output_format not in ("text", "json"):
        err_console.print("--format: text or json", markup=False)
        raise typer.Exit(EXIT_INVALID)
    report = _Report(ZoneInfo(settings().display_timezone), output_format == "json", verbose)
    if history:
        if case_ids or closed_since is not None or query is not None:
            err_console.print("give either --history FILE or cases to fetch, not both", markup=False)
            raise typer.Exit(EXIT_INVALID)
    elif not case_ids and closed_since is None and query is None:
        err_console.print("give case ids, --closed-since DATE, --query Q or --history FILE", markup=False)
        raise typer.Exit(EXIT_INVALID)
    since = None
    if closed_since is not None:
        try:
            since = parse_since(closed_since)
        except ValueError as exc:
            err_console.print(str(exc), markup=False)
            raise typer.Exit(EXIT_INVALID) from None
    with _refusal_reader(database) as refusals:
        if history:
            report.add(verify_case(_read_files(history), report.zone), refusals)
        else:
            asyncio.run(_verify_all(list(case_ids or []), since, query, report, refusals))
    report.finish()
    if report.unread:
        raise typer.Exit(EXIT_INVALID)
    raise typer.Exit(EXIT_FAILED if any(not v.verified for v, _ in report.cases) else EXIT_OK)


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
    zone_name: str | None = typer.Option(
        None,
        "--zone",
        help="Show times in this IANA zone (default: the zone of the pinned policy's calendar, else UTC).",
        show_default=False,
    ),
) -> None:
    """One case's audit bundle, a document that stands on its own (also `aftersales audit CASE`).

    Who did what and when, the attempts it refused, the pinned policy and its hash, decisions with
    their rule ids, transitions, SLA clocks against their targets, effects and their delivery, and the
    verification result. Times are in the zone of the pinned policy's calendar (UTC without one, or
    --zone), each with its offset.

    It holds the case's personal data: the file is written 0600.
    """
    if output_format not in ("json", "html"):
        err_console.print("--format: json or html", markup=False)
        raise typer.Exit(EXIT_INVALID)
    if (case_id is None) == (not history):
        err_console.print("give a case id or --history FILE", markup=False)
        raise typer.Exit(EXIT_INVALID)
    try:
        override = None if zone_name is None else zone_named(zone_name)
    except ValueError as exc:
        err_console.print(str(exc), markup=False)
        raise typer.Exit(EXIT_INVALID) from None
    case = _read_files(history) if history else asyncio.run(_fetch_one(case_id or ""))
    zone = bundle_zone(pinned_of(case), override)
    verdict = verify_case(case, zone.zone)  # its divergences name their inputs' times in the bundle's zone
    with _refusal_reader(database) as reader:
        refusals = _attempts_of(reader, case.case_id)
    bundle = audit_bundle(case, verdict, _outbox_rows(case.case_id), refusals, zone)
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


def _refusal_reader(database: str | None) -> RefusalReader:
    """The ledger's refusal log (`--database`, else AFTERSALES_DATABASE_URL), or exit 2."""
    try:
        return RefusalReader(database or settings().database_url)
    except LedgerUnreadable as exc:
        err_console.print(f"--database: {exc}", markup=False)
        raise typer.Exit(EXIT_INVALID) from None


def _attempts_of(reader: RefusalReader, case_id: str) -> list[dict[str, Any]] | None:
    """The case's refusal log rows (None: no ledger here), or exit 2."""
    try:
        return reader.of(case_id)
    except LedgerUnreadable as exc:
        err_console.print(f"--database: {exc}", markup=False)
        raise typer.Exit(EXIT_INVALID) from None


class _Report:
    """What `audit verify` says: each case as it is verified (text), or one document at the end (json)."""

    def __init__(self, zone: ZoneInfo, as_json: bool, verbose: bool) -> None:
        self.zone = zone
        self.as_json = as_json
        self.verbose = verbose
        self.cases: list[tuple[Verdict, list[dict[str, Any]] | None]] = []
        self.unread: list[str] = []

    def add(self, verdict: Verdict, reader: RefusalReader) -> None:
        rows = _attempts_of(reader, verdict.case_id)
        attempts = None if rows is None else [attempt_of(row) for row in rows]
        self.cases.append((verdict, attempts))
        if not self.as_json:
            _print_verdict(verdict, attempts, self.zone if self.verbose else None)

    def not_read(self, reason: str) -> None:
        self.unread.append(reason)
        err_console.print(reason, markup=False)

    def finish(self) -> None:
        if self.as_json:
            document = {"cases": [_verdict_json(v, a) for v, a in self.cases], "not_read": self.unread}
            print(json.dumps(document, ensure_ascii=False, indent=2))
        else:
            if any(attempts is None for _, attempts in self.cases):
                err_console.print(
                    "refused attempts: unknown, no ledger here (AFTERSALES_DATABASE_URL or --database)", markup=False
                )
            _print_summary(self.cases, self.unread)


async def _verify_all(
    case_ids: list[str], since: dt.datetime | None, query: str | None, report: _Report, refusals: RefusalReader
) -> None:
    from service.settings import connect_client

    client = await connect_client(settings())
    if since is not None or query is not None:
        case_ids += [c for c in await case_ids_matching(client, closed_since_query(since, query)) if c not in case_ids]
    if not case_ids:
        err_console.print("no case matches", markup=False)
    progress = _progress(len(case_ids))
    task = None if progress is None else progress.add_task("verifying", total=len(case_ids))
    if progress is not None:
        progress.start()
    try:
        async for _, case in fetch_cases(client, case_ids):
            if isinstance(case, str):
                report.not_read(case)
            else:
                report.add(verify_case(case, report.zone), refusals)
            if progress is not None and task is not None:
                progress.advance(task)
    finally:
        if progress is not None:
            progress.stop()


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


def _refused_count(attempts: list[dict[str, Any]] | None) -> str:
    if not attempts:  # none, or unknown without a ledger (said once, on standard error)
        return ""
    return f", {len(attempts)} refused attempt{'s' if len(attempts) > 1 else ''}"


def _print_verdict(verdict: Verdict, attempts: list[dict[str, Any]] | None, verbose_zone: ZoneInfo | None) -> None:
    """`CASE verified, N refused attempts` or its divergences; with a zone (--verbose) each refused
    attempt too: when, the update and event, role and claimed principal, its code and reason."""
    if verdict.verified:
        console.print(f"{verdict.case_id} verified{_refused_count(attempts)}", markup=False)
    else:
        console.print(f"{verdict.case_id} diverged{_refused_count(attempts)}:", markup=False)
        for divergence in verdict.divergences:
            console.print(f"  {divergence}", markup=False)
    for note in verdict.notes:
        console.print(f"  note: {note}", markup=False)
    if verbose_zone is None:
        return
    for attempt in attempts or []:
        at = readable_time(dt.datetime.fromisoformat(attempt["at"]), verbose_zone)
        what = " ".join(str(w) for w in (attempt["update"], attempt["event"]) if w)
        who = f" as {attempt['role']}" if attempt["role"] else ""
        claimed = f" (token claims {attempt['principal']})" if attempt["principal"] else ""
        console.print(f"  refused {at}: {what}{who}{claimed}: [{attempt['code']}] {attempt['reason']}", markup=False)


def _verdict_json(verdict: Verdict, attempts: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {
        "case_id": verdict.case_id,
        "verified": verdict.verified,
        "inputs": verdict.inputs,
        "divergences": [{"at_input": d.at_input, "where": d.where, "message": d.message} for d in verdict.divergences],
        "notes": list(verdict.notes),
        "refused_attempts": None if attempts is None else {"count": len(attempts), "attempts": attempts},
    }


def _print_summary(cases: list[tuple[Verdict, list[dict[str, Any]] | None]], unread: list[str]) -> None:
    if len(cases) + len(unread) < 2:
        return
    table = Table(title="verification")
    table.add_column("verified", justify="right")
    table.add_column("diverged", justify="right")
    table.add_column("not read", justify="right")
    table.add_column("refused attempts", justify="right")
    diverged = sum(1 for v, _ in cases if not v.verified)
    refused = sum(len(a) for _, a in cases if a is not None)
    unknown = sum(1 for _, a in cases if a is None)
    table.add_row(
        str(len(cases) - diverged),
        str(diverged),
        str(len(unread)),
        "unknown" if unknown == len(cases) else f"{refused}" + (f" ({unknown} cases unknown)" if unknown else ""),
    )
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
