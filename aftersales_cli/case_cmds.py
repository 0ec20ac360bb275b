"""`aftersales case ...`, `aftersales outbox`, `aftersales schema`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.table import Table

from aftersales_cli.case_files import CaseFile, InputError, parse_mapping, read_case_file
from aftersales_cli.common import (
    EXIT_FAILED,
    EXIT_INVALID,
    console,
    err_console,
    load_or_exit,
    policy_dir,
    policy_dir_option,
    settings,
    show_time,
    where,
)

if TYPE_CHECKING:
    from starter import CaseClient
    from workflows.contract import CaseStatus

T = TypeVar("T")

case_app = typer.Typer(help="Open cases, report events, look at cases (needs a running worker).", no_args_is_help=True)


def _fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    err_console.print(message, markup=False)
    return typer.Exit(code)


def _known_id(case_id: str) -> str:
    """The case id argument, or exit 2 naming the rule it breaks (before any connection is made)."""
    from workflows.bounds import case_id_problem

    bad_id = case_id_problem(case_id, linked=True)  # a linked case's id may be longer than a caller's own
    if bad_id is not None:
        raise _fail(bad_id, EXIT_INVALID)
    return case_id


AS_HELP = (
    "The principal to sign as (its key: .aftersales/keys/NAME.pem, or AFTERSALES_KEY_FILE); "
    "default AFTERSALES_AS, else 'cli' when its key exists (made by `aftersales dev`)."
)


def signer(name: str | None) -> tuple[str | None, Any]:
    """The principal the command signs as and its private key, or (None, None) to send unsigned."""
    import os
    from pathlib import Path

    from service.identity import KeyProblem, load_private_key
    from service.identity.devmode import DEV_PRINCIPAL, dev_key_file

    home = Path(settings().home)
    chosen = name or os.environ.get("AFTERSALES_AS", "").strip() or None
    key_file = os.environ.get("AFTERSALES_KEY_FILE", "").strip()
    if chosen is None:
        if not dev_key_file(home).exists():
            return None, None
        chosen = DEV_PRINCIPAL
    path = Path(key_file) if key_file else dev_key_file(home, chosen)
    try:
        return chosen, load_private_key(path)
    except KeyProblem as exc:
        raise _fail(f"cannot sign as {chosen}: {exc}", EXIT_INVALID) from None


def with_cases(work: Callable[[CaseClient], Awaitable[T]], sign_as: str | None = None) -> T:
    """Connect, do the work, close the connection; a refusal or an unreachable server is one line."""
    from temporalio.service import RPCError

    from starter import CaseClient, CaseConflict, CaseError, InvalidRequest

    principal, key = signer(sign_as)

    async def go() -> T:
        async with await CaseClient.connect(settings(), principal=principal, private_key=key) as cases:
            return await work(cases)

    try:
        return asyncio.run(go())
    except CaseConflict:
        raise  # the caller knows what the user asked for and says more
    except InvalidRequest as exc:  # the user's input breaks a bound (an id, data too large): nothing sent
        raise _fail(str(exc), EXIT_INVALID) from None
    except CaseError as exc:
        raise _fail(str(exc)) from None
    except RPCError as exc:  # a server-side refusal the client has no better words for
        raise _fail(f"the Temporal server refused the request: {exc.message}") from None


def print_status(status: CaseStatus, as_json: bool) -> None:
    if as_json:
        print(status.model_dump_json(indent=2))
        return
    console.print(
        f"case [bold]{status.case_id}[/bold] ({status.case_type})  state [bold cyan]{status.state}"
        f"[/bold cyan]  {'closed' if status.closed else 'open'}  opened {show_time(status.opened_at)}"
    )
    console.print(
        f"policy {status.policy_id} ({status.policy_version[:12]})  escalation level {status.escalation_level}"
        + (f"  refused events {status.refused_events}" if status.refused_events else "")
    )
    if status.deadlines:
        t = _table("deadline", "due", title="open deadlines", whole=("due",))
        for d in status.deadlines:
            t.add_row(d.name, show_time(d.due))
        console.print(t)
    if status.sla:
        t = _table("SLA clock", "status", "due", title="SLA", whole=("due",))
        for name, clock in status.sla.items():
            t.add_row(name, clock["status"], show_time(clock.get("due")))
        console.print(t)
    if status.accepted_events:
        t = _table("event", "who may send it", title="events accepted now")
        for name, roles in status.accepted_events.items():
            t.add_row(name, ", ".join(roles))
        console.print(t)
    facts: list[tuple[str, str, Any]] = [
        *(("decision", k, v) for k, v in status.decisions.items()),
        *(("counter", k, v) for k, v in status.counters.items()),
        *(("record", k, v) for k, v in status.records.items()),
        *(("variable", k, v) for k, v in status.variables.items()),
    ]
    if facts:
        t = _table("kind", "name", "value", title="decisions (rule ids), counters and records")
        for kind, name, value in facts:
            t.add_row(kind, name, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        console.print(t)


def _table(*columns: str, title: str | None = None, whole: tuple[str, ...] = ()) -> Table:
    """A table whose cells are never cut: `whole` columns (ids, times) keep their width, others wrap."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column in whole)
    return table


@case_app.command("open")
def open_case(
    source: str = typer.Argument(
        ..., help="A YAML or JSON file with case_type, case_id, data, opened_at? (- for stdin).", show_default=False
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
    sign_as: str | None = typer.Option(None, "--as", help=AS_HELP, show_default=False),
) -> None:
    """Open a case from a file. Idempotent by case id: the same file again shows the existing case.

    Times in `opened_at` and in `*_at` data fields may be relative to now: -2d, -36h, +1h, now.
    """
    from starter import CaseConflict

    try:
        case = read_case_file(source, dt.datetime.now(dt.UTC))
    except InputError as exc:
        raise _fail(str(exc), EXIT_INVALID) from None
    try:
        status = with_cases(lambda cases: _open_from_file(cases, case), sign_as)
    except CaseConflict as exc:
        if case.relative:
            raise _fail(
                f"case {case.case_id} already exists with other data: this file gives times relative to now "
                f"(such as -2d), so each run asks for other data; give it another case_id, or look at the case "
                f"with `aftersales case status {case.case_id}`"
            ) from None
        raise _fail(str(exc)) from None
    if not as_json:
        if status.duplicate:
            console.print(f"case {case.case_id} already existed with this data; nothing was opened", markup=False)
        else:
            console.print(f"opened case {case.case_id}", markup=False)
    print_status(status, as_json)


async def _open_from_file(cases: CaseClient, case: CaseFile) -> CaseStatus:
    """Open the case; a refused backdated `opened_at` is explained in the case file's terms."""
    from starter import CaseRefused

    try:
        return await cases.open(case.case_type, case.case_id, case.data, case.opened_at)
    except CaseRefused as exc:
        if case.opened_at is None or "AFTERSALES_ALLOW_BACKDATING" not in str(exc):
            raise
        raise CaseRefused(
            f"case {case.case_id} was not opened: the case file sets opened_at ({show_time(case.opened_at)}), and "
            "the worker opens cases at the server's time unless it allows backdating (AFTERSALES_ALLOW_BACKDATING "
            "on the worker, for importing past cases). Remove opened_at from the file to open the case now "
            f"(times in its data may stay relative, such as -2d). The worker said: {exc}"
        ) from None


@case_app.command("event")
def send_event(
    case_id: str = typer.Argument(..., show_default=False),
    name: str = typer.Argument(..., help="The event name, e.g. merchant_approve.", show_default=False),
    role: str = typer.Option(
        ..., "--role", help="customer, merchant, agent, supervisor, mediator or system.", show_default=False
    ),
    actor: str = typer.Option(
        "",
        "--actor",
        help="The sender's id: a customer or merchant must be the case's own (the policy's `parties`).",
        show_default=False,
    ),
    data: str | None = typer.Option(
        None, "--data", help="Event data as JSON or YAML, e.g. '{tracking: SF1}'.", show_default=False
    ),
    key: str | None = typer.Option(
        None, "--key", help="Idempotency key: the same key twice is applied once.", show_default=False
    ),
    signal: bool = typer.Option(False, "--signal", help="Fire and forget (a refusal goes to the timeline)."),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
    sign_as: str | None = typer.Option(None, "--as", help=AS_HELP, show_default=False),
) -> None:
    """Report an event; a refused event prints the reason and exits 1 (the case is unchanged)."""
    _known_id(case_id)
    try:
        payload = parse_mapping(data, "--data") if data is not None else {}
    except InputError as exc:
        raise _fail(str(exc), EXIT_INVALID) from None

    async def go(cases: CaseClient) -> CaseStatus | None:
        if signal:
            await cases.signal(case_id, name, role, actor, payload, key)
            return None
        return await cases.event(case_id, name, role, actor, payload, key)

    status = with_cases(go, sign_as)
    if status is None:
        err_console.print("sent (a refusal, if any, is recorded in the case's timeline)")
    else:
        if status.duplicate and not as_json:
            err_console.print(f"key {key} was applied before; the case is unchanged", markup=False)
        print_status(status, as_json)


@case_app.command("status")
def show_status(
    case_id: str = typer.Argument(..., show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """State, deadlines, SLA clocks and the events accepted now."""
    _known_id(case_id)
    print_status(with_cases(lambda cases: cases.status(case_id)), as_json)


@case_app.command("timeline")
def show_timeline(
    case_id: str = typer.Argument(..., show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The audit trail: every event, refusal, decision, transition, action and SLA change."""
    from aftersales_cli.simulate_cmds import describe_entry
    from policy_engine.engine import typed_entry

    _known_id(case_id)
    tl = with_cases(lambda cases: cases.timeline(case_id))
    if as_json:
        print(tl.model_dump_json(indent=2))
        return
    at = f"at ({settings().display_timezone})"
    table = _table(
        at, "kind", "what", title=f"case {tl.case_id} on {tl.policy_id} ({tl.policy_version[:12]})", whole=(at,)
    )
    for entry in tl.entries:
        table.add_row(
            show_time(entry.at, short=True), entry.kind, describe_entry(typed_entry(entry.model_dump(mode="json")))
        )
    console.print(table)


@case_app.command("list")
def list_cases(
    state: str | None = typer.Option(None, "--state", help="Only cases in this state.", show_default=False),
    case_type: str | None = typer.Option(None, "--type", help="Only cases of this type.", show_default=False),
    merchant: str | None = typer.Option(None, "--merchant", help="Only this merchant's cases.", show_default=False),
    breached: bool | None = typer.Option(
        None, "--breached/--not-breached", help="Only cases with (without) a breached SLA.", show_default=False
    ),
    closed: bool | None = typer.Option(None, "--closed/--open", help="Only closed (open) cases.", show_default=False),
    refused: bool = typer.Option(False, "--refused", help="Also list openings that were refused."),
    limit: int = typer.Option(100, "--limit", min=1, max=10_000, help="At most this many cases."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Cases filtered by state, type, merchant, SLA breach (Temporal visibility), newest first."""
    from starter import list_query

    query = list_query(state, case_type, merchant, breached, closed)
    rows = with_cases(lambda cases: cases.list(query, limit, refused=refused))
    if as_json:
        print(json.dumps([r.__dict__ for r in rows], default=str, ensure_ascii=False, indent=2))
        return
    table = _table(
        "case",
        "type",
        "state",
        "merchant",
        "flags",
        "opened",
        "status",
        title=f"cases, newest first (times in {settings().display_timezone})",
        whole=("case", "type", "state", "merchant", "opened", "status"),
    )
    for r in rows:
        flags = [
            r.priority or "",
            "SLA breached" if r.sla_breached else "",
            f"level {r.escalation_level}" if r.escalation_level else "",
        ]
        table.add_row(
            r.case_id,
            r.case_type or "",
            r.state or "",
            r.merchant_id or "",
            " ".join(f for f in flags if f),
            show_time(r.started, short=True),
            _case_status(r.status, r.closed),
        )
    console.print(table)
    if not rows:
        err_console.print(
            "no cases match" + ("" if refused else " (refused openings are left out; --refused shows them)")
        )


def _case_status(status: str, closed: bool | None) -> str:
    if status == "REFUSED":
        return "refused"
    if closed:
        return "closed"
    return "open" if status == "RUNNING" else status.lower()


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return json.dumps(value, ensure_ascii=False)


def outbox(
    case_id: str | None = typer.Option(None, "--case", help="Only this case's effects.", show_default=False),
    action_type: str | None = typer.Option(
        None, "--type", help="Only this action type (notify, refund, ...).", show_default=False
    ),
    limit: int = typer.Option(50, "--limit", min=1, help="The newest this many effects."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The effects cases produced (the outbox, where the worker writes it), with each message as sent."""
    from rich.markup import escape
    from sqlalchemy.exc import SQLAlchemyError

    from activities.outbox import Outbox
    from aftersales_cli.ledger_cmds import shown as shown_url
    from aftersales_cli.ledger_cmds import unreachable

    location = settings().outbox_location
    # AFTERSALES_OUTBOX's SQLite file, else the ledger's database (AFTERSALES_DATABASE_URL): where the worker writes.
    file = location if isinstance(location, Path) else sqlite_file(location)
    if file is not None and not file.exists():
        variable = "AFTERSALES_OUTBOX" if isinstance(location, Path) else "AFTERSALES_DATABASE_URL"
        raise _fail(
            f"no outbox at {where(file)}: no case has produced an effect in this project yet "
            f"(project folder {settings().home}, {settings().home_source}; {variable} sets the file)"
        )
    shown_at = where(location) if isinstance(location, Path) else shown_url(location)
    try:
        rows = Outbox(location).list(case_id=case_id, type=action_type, limit=limit, newest=True)
    except SQLAlchemyError as exc:
        raise unreachable(location if isinstance(location, str) else f"sqlite:///{location}", exc) from None
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    # One block per effect rather than a table: a rendered message is a paragraph, and a table
    # squeezes it into a column a few letters wide on an 80-column terminal.
    console.print(f"[bold]outbox {escape(shown_at)}[/bold] (times in {settings().display_timezone})", markup=True)
    for row in rows:
        params = dict(row.get("params") or {})
        message = params.pop("message", "")
        console.print(
            f"\n[bold]{show_time(row.get('created_at'), short=True)}  {row.get('case_id')}  {row.get('type')}[/bold]"
            f"  key {row.get('key')}",
            markup=True,
        )
        shown = ", ".join(f"{k} {_plain(v)}" for k, v in params.items())
        if shown:
            console.print(f"  {shown}", markup=False)
        if message:
            console.print(f"  {_plain(message)}", markup=False)
    err_console.print(f"{len(rows)} effect(s) shown" + (f" (the newest {limit})" if len(rows) == limit else ""))


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL (None: another database)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return Path(parsed.database) if parsed.drivername.startswith("sqlite") and parsed.database else None


def schema(
    case_type: str | None = typer.Argument(None, help="A case type (default: all)."),
    events: bool = typer.Option(True, "--events/--no-events", help="Include each event's data schema."),
    policies: Path | None = policy_dir_option(),
) -> None:
    """JSON Schemas of case data and event data per case type, for backend systems."""
    from policy_engine.language import json_schema

    policy_set = load_or_exit([policy_dir(policies)])
    out: dict[str, Any] = {}
    for ct in policy_set.case_types:
        if case_type and ct != case_type:
            continue
        default = policy_set.for_case_type(ct)[-1].policy
        entry: dict[str, Any] = {"case_data": json_schema(default.data, f"{ct} case data")}
        if events:
            entry["events"] = {
                name: {"roles": ev.roles, "data": json_schema(ev.data, f"{ct} {name} data")}
                for name, ev in default.events.items()
            }
        out[ct] = entry
    if case_type and not out:
        err_console.print(f"unknown case type '{case_type}'; known: {', '.join(policy_set.case_types)}")
        raise typer.Exit(EXIT_INVALID)
    print(json.dumps(out, ensure_ascii=False, indent=2))
