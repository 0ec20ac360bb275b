"""`aftersales report sla|satisfaction|merchants|targets|schedule|publish`: compliance reports from the case
ledger, and their regular publication (docs/reports.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer
from sqlalchemy.exc import SQLAlchemyError
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from activities.report_activities import PUBLISH_FOLDER_REFUSED, Published
from aftersales_cli.common import (
    EXIT_FAILED,
    EXIT_INVALID,
    console,
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
from reports import FORMATS, build_report, needs_charts, render
from reports.model import GROUPS, GroupBy, ReportKind
from reports.periods import PERIODS, Period, end_moment, window_containing
from reports.schedule import ensure_schedule, run_id_prefix, schedule_id
from reports.targets import Targets, load_targets, targets_path
from service import connect_client
from service.task_queues import workflow_pollers
from workflows.report_workflow import PUBLISH_WORKFLOW, PublishRequest

_T = TypeVar("_T")

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
        report = build_report(
            ledger,
            kind,
            first,
            last,
            group,
            targets,
            timezone=settings().display_timezone,
            charts=needs_charts(fmt),
        )
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
_BY = typer.Option(None, "--by", help=f"Group by {', '.join(GROUPS)}.", show_default=False)
_TARGETS_FROM = policy_dir_option("The policy folder whose compliance/targets.yaml applies.")


def _grouped_report(kind: ReportKind, summary: str) -> Callable[..., None]:
    """The command of a report that --by may group: every such report takes the same options."""

    def command(
        start: str = _FROM,
        end: str = _TO,
        by: str | None = _BY,
        fmt: str = _FORMAT,
        database: str | None = _DATABASE,
        out: Path | None = _OUT,
        policies: Path | None = _TARGETS_FROM,
    ) -> None:
        _report(kind, start, end, by, fmt, database, out, policies)

    command.__doc__ = summary  # the command's help
    return command


app.command("sla")(
    _grouped_report(
        "sla", "Per SLA clock: cases, met, breached, still running, on-time rate, median / p90 / max time to handle."
    )
)
app.command("satisfaction")(
    _grouped_report(
        "satisfaction", "Satisfaction and response rates of the follow-ups; escalated, mediated and referred cases."
    )
)


@app.command("merchants")
def merchants(
    start: str = _FROM,
    end: str = _TO,
    fmt: str = _FORMAT,
    database: str | None = _DATABASE,
    out: Path | None = _OUT,
    policies: Path | None = _TARGETS_FROM,
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


# --- publication: the schedules, and one period by hand ---------------------------------------------

_FOLDER = typer.Option(
    None,
    "--folder",
    help="Where the worker writes the HTML and JSON, on its machine: inside its published/ folder or a folder of its AFTERSALES_PUBLISH_DIRS (default: published/).",
    show_default=False,
)


def _folder(given: Path | None) -> str | None:
    # Absolute: the worker resolves nothing against the folder this command was run from.
    return None if given is None else str(given.expanduser().resolve())


def _temporal(go: Callable[[Client], Awaitable[_T]]) -> _T:
    """Run `go` with a client; a server that does not answer is said in one line (exit 1)."""
    config = settings()

    async def connected() -> _T:
        return await go(await connect_client(config))

    try:
        return asyncio.run(connected())
    except RuntimeError:  # the SDK's connection failure, with gRPC internals in its text
        err_console.print(f"aftersales: cannot reach a Temporal server at {config.address}", markup=False)
        raise typer.Exit(EXIT_FAILED) from None


@app.command("schedule")
def schedule(
    weekly: bool = typer.Option(False, "--weekly", help="Only the weekly schedule (Mondays at 01:00)."),
    monthly: bool = typer.Option(False, "--monthly", help="Only the monthly schedule (the 1st at 01:00)."),
    folder: Path | None = _FOLDER,
) -> None:
    """Create the Temporal Schedules that publish the handling figures, or update them (idempotent)."""
    chosen = {"weekly": weekly, "monthly": monthly}
    periods = [period for period in PERIODS if chosen[period]] or list(PERIODS)  # neither flag: both
    config = settings()
    target = _folder(folder)

    async def go(client: Client) -> list[str]:
        return [
            await ensure_schedule(client, period, config.task_queue, config.display_timezone, target)
            for period in periods
        ]

    said = _temporal(go)
    where_to = target or "the worker's published/ folder"
    for period, done in zip(periods, said, strict=True):
        when = "every Monday" if period == "weekly" else "on the 1st of every month"
        console.print(
            f"schedule {schedule_id(period)} {done}: the {period} figures are published {when} at 01:00 "
            f"{config.display_timezone}, to {where_to} and the outbox",
            markup=False,
        )
    for period in periods:  # what the temporal CLI does with them (docs/reports.md, "Publication")
        console.print(
            f"  pause: temporal schedule toggle --schedule-id {schedule_id(period)} --pause --reason WHY "
            f"(--unpause to resume); delete: temporal schedule delete --schedule-id {schedule_id(period)}",
            markup=False,
        )


def _period(value: str) -> Period:
    if value not in PERIODS:
        raise _refuse(f"--period: use one of {', '.join(PERIODS)}")
    return value  # type: ignore[return-value]  # checked against PERIODS


@app.command("publish")
def publish(
    period_name: str = typer.Option(..., "--period", help="weekly or monthly.", show_default=False),
    day: str = typer.Option(
        ..., "--for", help="A day (YYYY-MM-DD) of the week or month to publish; it must be over.", show_default=False
    ),
    folder: Path | None = _FOLDER,
) -> None:
    """Publish one period's figures now, as its scheduled run does (a worker runs it; this waits for it)."""
    period = _period(period_name)
    window = window_containing(period, _day(day, "--for"))
    zone = settings().display_timezone
    as_of = end_moment(window, zone)
    if as_of > dt.datetime.now(dt.UTC):
        raise _refuse(f"--for: that {period.removesuffix('ly')} is not over yet (it ends {window.end})")
    request = PublishRequest(period=period, folder=_folder(folder), as_of=as_of)
    run_id = f"{run_id_prefix(period)}-for-{window.start}"

    async def go(client: Client) -> Published:
        queue = settings().task_queue
        err_console.print(
            f"publishing the {period} figures of {window.start} to {window.end} (excluded): "
            f"waiting for a worker on task queue {queue}",
            markup=False,
        )
        run = await client.start_workflow(
            PUBLISH_WORKFLOW,
            request,
            id=run_id,
            task_queue=queue,
            result_type=Published,
        )
        if not await workflow_pollers(client, queue):
            err_console.print(
                f"aftersales: no worker has polled task queue {queue} lately; start one (`aftersales worker`, "
                "or `make run`). The run waits queued for it: Ctrl-C stops this command, not the run.",
                markup=False,
            )
        published: Published = await run.result()
        return published

    try:
        published = _temporal(go)
    except WorkflowAlreadyStartedError:
        raise _refuse(
            f"this period is being published right now (workflow {run_id}); wait for that run, "
            f"or look at it: `temporal workflow describe -w {run_id}`"
        ) from None
    except WorkflowFailureError as exc:
        refused = _refusal_in(exc)
        if refused is not None:  # the worker refused the run (its folder): say why
            err_console.print(f"aftersales: the publication was refused: {refused}", markup=False)
        else:  # cancelled or terminated: the worker's log and the run's history say why
            err_console.print("aftersales: the publication did not finish; see the worker's log", markup=False)
        raise typer.Exit(EXIT_FAILED) from None
    print_published(published)


def _refusal_in(failure: BaseException) -> str | None:
    """The worker's reason when a run failed on a refusal of its own (PUBLISH_FOLDER_REFUSED), else None."""
    cause: BaseException | None = failure
    while cause is not None:
        if isinstance(cause, ApplicationError) and cause.type == PUBLISH_FOLDER_REFUSED:
            return cause.message
        cause = cause.__cause__ or getattr(cause, "cause", None)
    return None


def print_published(published: Published) -> None:
    again = "" if published.first_time else " (published before: the files rewritten, the effect not sent again)"
    console.print(
        f"{published.period} figures, cases opened {published.start} to {published.end} (excluded): "
        f"{', '.join(published.files)} in {published.folder}; effect {published.effect}{again}",
        markup=False,
    )
