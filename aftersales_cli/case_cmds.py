"""`aftersales case ...`, `aftersales outbox`, `aftersales schema`."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Table

from aftersales_cli.common import (
    DEFAULT_POLICY_DIR,
    EXIT_FAILED,
    EXIT_INVALID,
    console,
    err_console,
    load_or_exit,
)

case_app = typer.Typer(help="Open cases, report events, look at cases (needs a running worker).", no_args_is_help=True)


def _read_data(source: str) -> dict[str, Any]:
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        err_console.print(f"{source}: not YAML or JSON: {exc}")
        raise typer.Exit(EXIT_INVALID) from None
    if not isinstance(data, dict):
        err_console.print(f"{source}: expected a mapping")
        raise typer.Exit(EXIT_INVALID)
    return data


def _run(coro: Any) -> Any:
    from starter import CaseError

    try:
        return asyncio.run(coro)
    except CaseError as exc:
        err_console.print(f"[red]{type(exc).__name__}[/red]: {exc}")
        raise typer.Exit(EXIT_FAILED) from None
    except OSError as exc:
        err_console.print(f"cannot reach Temporal: {exc}")
        raise typer.Exit(EXIT_FAILED) from None
    except RuntimeError as exc:
        if "connect" in str(exc).lower():
            err_console.print(f"cannot reach Temporal ({exc}); start it with `make run` or set TEMPORAL_ADDRESS")
            raise typer.Exit(EXIT_FAILED) from None
        raise


async def _client() -> Any:
    from starter import CaseClient

    return await CaseClient.connect()


def print_status(status: Any, as_json: bool) -> None:
    if as_json:
        print(status.model_dump_json(indent=2))
        return
    console.print(
        f"case [bold]{status.case_id}[/bold] ({status.case_type})  state [bold cyan]{status.state}"
        f"[/bold cyan]  {'closed' if status.closed else 'open'}  policy {status.policy_id} "
        f"({status.policy_version[:12]})  escalation level {status.escalation_level}"
    )
    if status.deadlines:
        t = Table("deadline", "due", title="open deadlines", title_justify="left")
        for d in status.deadlines:
            t.add_row(d.name, d.due.isoformat())
        console.print(t)
    if status.sla:
        t = Table("SLA clock", "status", "due", title="SLA", title_justify="left")
        for name, clock in status.sla.items():
            t.add_row(name, clock["status"], clock.get("due") or "")
        console.print(t)
    if status.accepted_events:
        t = Table("event", "who may send it", title="events accepted now", title_justify="left")
        for name, roles in status.accepted_events.items():
            t.add_row(name, ", ".join(roles))
        console.print(t)
    extras = {"counters": status.counters, "records": status.records, "decisions": status.decisions}
    shown = {k: v for k, v in extras.items() if v}
    if shown:
        console.print(json.dumps(shown, ensure_ascii=False))


@case_app.command("open")
def open_case(
    source: str = typer.Argument(..., help="A YAML or JSON file with case_type, case_id, data (or - for stdin)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Open a case from a file: {case_type, case_id, data, opened_at?}. Idempotent by case id."""
    spec = _read_data(source)
    missing = [k for k in ("case_type", "case_id", "data") if k not in spec]
    if missing:
        err_console.print(f"{source}: missing {', '.join(missing)}")
        raise typer.Exit(EXIT_INVALID)
    opened_at = spec.get("opened_at")
    if isinstance(opened_at, str):
        opened_at = dt.datetime.fromisoformat(opened_at)

    async def go() -> Any:
        client = await _client()
        data = json.loads(json.dumps(spec["data"], default=str))
        return await client.open(spec["case_type"], str(spec["case_id"]), data, opened_at)

    print_status(_run(go()), as_json)


@case_app.command("event")
def send_event(
    case_id: str = typer.Argument(...),
    name: str = typer.Argument(..., help="The event name, e.g. merchant_approve."),
    role: str = typer.Option(..., "--role", help="customer, merchant, agent, supervisor, mediator or system."),
    actor: str = typer.Option("", "--actor", help="The sender's id."),
    data: str | None = typer.Option(None, "--data", help="Event data as JSON or YAML, e.g. '{tracking: SF1}'."),
    key: str | None = typer.Option(None, "--key", help="Idempotency key: the same key twice is applied once."),
    signal: bool = typer.Option(False, "--signal", help="Fire and forget (a refusal goes to the timeline)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Report an event; a refused event prints the reason and exits 1."""
    payload = yaml.safe_load(data) if data else {}

    async def go() -> Any:
        client = await _client()
        if signal:
            await client.signal(case_id, name, role, actor, payload, key)
            return None
        return await client.event(case_id, name, role, actor, payload, key)

    status = _run(go())
    if status is None:
        err_console.print("sent")
    else:
        print_status(status, as_json)


@case_app.command("status")
def show_status(case_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """State, deadlines, SLA clocks and the events accepted now."""

    async def go() -> Any:
        return await (await _client()).status(case_id)

    print_status(_run(go()), as_json)


@case_app.command("timeline")
def show_timeline(case_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """The audit trail: every event, refusal, decision, transition, action and SLA change."""
    from aftersales_cli.simulate_cmds import _describe

    async def go() -> Any:
        return await (await _client()).timeline(case_id)

    tl = _run(go())
    if as_json:
        print(tl.model_dump_json(indent=2))
        return
    table = Table("at", "kind", "what", "policy", title=f"case {tl.case_id} on {tl.policy_id}")
    for entry in tl.entries:
        table.add_row(entry.at.isoformat(), entry.kind, _describe(entry.model_dump(mode="json")), entry.policy_version)
    console.print(table)


@case_app.command("list")
def list_cases(
    state: str | None = typer.Option(None, "--state"),
    case_type: str | None = typer.Option(None, "--type"),
    merchant: str | None = typer.Option(None, "--merchant"),
    breached: bool | None = typer.Option(None, "--breached/--not-breached"),
    closed: bool | None = typer.Option(None, "--closed/--open"),
    limit: int = typer.Option(100, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Cases filtered by state, type, merchant, SLA breach (Temporal visibility)."""
    from starter import list_query

    async def go() -> Any:
        return await (await _client()).list(list_query(state, case_type, merchant, breached, closed), limit)

    rows = _run(go())
    if as_json:
        print(json.dumps([r.__dict__ for r in rows], default=str, ensure_ascii=False, indent=2))
        return
    table = Table("case", "type", "state", "merchant", "priority", "SLA breached", "escalation", "closed")
    for r in rows:
        table.add_row(
            r.case_id,
            r.case_type or "",
            r.state or "",
            r.merchant_id or "",
            r.priority or "",
            str(r.sla_breached),
            str(r.escalation_level),
            str(r.closed),
        )
    console.print(table)


def outbox(
    case_id: str | None = typer.Option(None, "--case"),
    action_type: str | None = typer.Option(None, "--type"),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The effects cases produced (the embedded SQLite outbox)."""
    from activities.config import Settings
    from activities.outbox import Outbox

    box = Outbox(Path(Settings.from_env().outbox_path))
    rows = box.list(case_id=case_id, type=action_type, limit=limit)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    table = Table("created", "case", "type", "key", "params")
    for row in rows:
        params = row.get("params")
        if isinstance(params, str):
            params = json.loads(params)
        shown = {k: v for k, v in (params or {}).items() if k != "message"}
        table.add_row(
            str(row.get("created_at", ""))[:19],
            str(row.get("case_id")),
            str(row.get("type")),
            str(row.get("key")),
            json.dumps(shown, ensure_ascii=False),
        )
    console.print(table)


def schema(
    case_type: str | None = typer.Argument(None, help="A case type (default: all)."),
    events: bool = typer.Option(True, "--events/--no-events", help="Include each event's data schema."),
    policies: Path = typer.Option(DEFAULT_POLICY_DIR, "--policies", "-p"),
) -> None:
    """JSON Schemas of case data and event data per case type, for backend systems."""
    from policy_engine.fields import json_schema

    policy_set = load_or_exit([policies])
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
