"""`aftersales policy ...`: validate, show, graph, diff, schema."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
import yaml

from aftersales_cli.common import DEFAULT_POLICY_DIR, EXIT_FAILED, console, err_console, load_or_exit

app = typer.Typer(help="Check, inspect and compare policies.", no_args_is_help=True)


@app.command()
def validate(
    paths: list[Path] = typer.Argument(None, help="Policy files or folders (default: policies/)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only problems."),
) -> None:
    """Check policies; print every problem as FILE:LINE:COL: message (exit 1 if any)."""
    targets = paths or [DEFAULT_POLICY_DIR]
    started = time.perf_counter()
    policy_set = load_or_exit(targets, exit_code=EXIT_FAILED)
    elapsed = (time.perf_counter() - started) * 1000
    if not quiet:
        n = len(policy_set.policies)
        types = ", ".join(policy_set.case_types)
        err_console.print(
            f"[green]ok[/green]: {n} policies for {types}; {len(policy_set.calendars)} calendar(s); "
            f"checked in {elapsed:.0f} ms"
        )


@app.command()
def show(
    case_type: str = typer.Argument(..., help="The case type, e.g. return."),
    merchant: str | None = typer.Option(None, "--merchant", help="Resolve for this merchant id."),
    policy_id: str | None = typer.Option(None, "--policy", help="Show this policy id instead of selecting."),
    policies: Path = typer.Option(DEFAULT_POLICY_DIR, "--policies", "-p", help="The policy folder."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of YAML."),
) -> None:
    """The resolved policy (extends applied) that a case of CASE_TYPE would run, with its version."""
    from aftersales_cli.resolve import resolve_for_show

    policy_set = load_or_exit([policies])
    resolved = resolve_for_show(policy_set, case_type, merchant, policy_id)
    content = resolved.policy.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    header = {"policy": resolved.id, "version": resolved.version, "case_type": resolved.case_type}
    if as_json:
        print(json.dumps({**header, "content": content}, ensure_ascii=False, indent=2))
        return
    console.print(f"# policy {resolved.id}  version {resolved.version}")
    print(yaml.safe_dump(content, allow_unicode=True, sort_keys=False, width=110))


@app.command()
def schema(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file."),
    calendar: bool = typer.Option(False, "--calendar", help="The schema of calendar files instead."),
) -> None:
    """The JSON Schema of the policy language (for editors)."""
    from aftersales_cli.docs_gen import schema_text

    text = schema_text(calendar=calendar)
    if output:
        output.write_text(text, encoding="utf-8")
        err_console.print(f"wrote {output}")
    else:
        print(text, end="")


@app.command()
def graph(
    case_type: str = typer.Argument(..., help="The case type, e.g. complaint."),
    merchant: str | None = typer.Option(None, "--merchant", help="Draw the policy this merchant's cases run."),
    policy_id: str | None = typer.Option(None, "--policy", help="Draw this policy id instead of selecting."),
    policies: Path = typer.Option(DEFAULT_POLICY_DIR, "--policies", "-p", help="The policy folder."),
) -> None:
    """The state machine as a Mermaid diagram (paste into any Markdown viewer that renders Mermaid)."""
    from aftersales_cli.resolve import resolve_for_show
    from policy_engine.graph import mermaid

    policy_set = load_or_exit([policies])
    resolved = resolve_for_show(policy_set, case_type, merchant, policy_id)
    print(mermaid(resolved.policy), end="")


@app.command()
def diff(
    old: Path = typer.Argument(..., help="The policy folder (or file) as published."),
    new: Path = typer.Argument(..., help="The edited policy folder (or file)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """What changed in operator terms: windows, deadlines, SLA targets, rules, states (exit 1 if anything did)."""
    from dataclasses import asdict

    from rich.table import Table

    from policy_engine.policy_diff import diff_sets

    changes = diff_sets(load_or_exit([old]), load_or_exit([new]))
    if as_json:
        print(json.dumps([asdict(c) for c in changes], ensure_ascii=False, indent=2))
    elif not changes:
        console.print("no changes that a case would notice")
    else:
        table = Table(title=f"{old} -> {new}: {len(changes)} change(s)")
        for column in ("policy", "area", "what", "before", "after"):
            table.add_column(column, overflow="fold")
        for c in changes:
            table.add_row(c.policy, c.area, c.what, c.old, c.new)
        console.print(table)
    raise typer.Exit(EXIT_FAILED if changes else 0)
