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
    from policy_engine.language_schema import calendar_file_schema, policy_file_schema

    text = json.dumps(calendar_file_schema() if calendar else policy_file_schema(), indent=2, ensure_ascii=False)
    if output:
        output.write_text(text + "\n", encoding="utf-8")
        err_console.print(f"wrote {output}")
    else:
        print(text)
