"""`aftersales policy ...`: validate, show, graph, diff, schema."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer
import yaml

from aftersales_cli.common import (
    EXIT_FAILED,
    EXIT_INVALID,
    console,
    err_console,
    load_or_exit,
    policy_dir,
    policy_dir_option,
    settings,
    where,
)
from policy_engine.language.calendar_coverage import coverage_notes

if TYPE_CHECKING:
    from policy_engine.tools import Change

app = typer.Typer(help="Check, inspect and compare policies.", no_args_is_help=True)


@app.command()
def validate(
    paths: list[Path] = typer.Argument(None, help="Policy files or folders (default: the project's policies/)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only problems."),
) -> None:
    """Check policies; print every problem as FILE:LINE:COL: message (exit 1 if any).

    Also warns (exit 0) of a calendar whose years end within 120 days: cases needing a date past them
    are refused.
    """
    targets = paths or [policy_dir(None)]
    started = time.perf_counter()
    policy_set = load_or_exit(targets, exit_code=EXIT_FAILED)
    elapsed = (time.perf_counter() - started) * 1000
    if not quiet:
        n = len(policy_set.policies)
        types = ", ".join(policy_set.case_types)
        folders = ", ".join(where(t) for t in targets)
        err_console.print(
            f"[green]ok[/green]: {folders}: {n} policies for {types}; {len(policy_set.calendars)} calendar(s); "
            f"checked in {elapsed:.0f} ms"
        )
    # Not problems (the set is valid and loads), but what will refuse cases if nobody acts.
    for note in coverage_notes(policy_set, dt.datetime.now(dt.UTC).date()):
        err_console.print(f"{note.file}:{note.line}:{note.col}: warning: {note.message}", markup=False)


@app.command()
def show(
    case_type: str = typer.Argument(..., help="The case type, e.g. return."),
    merchant: str | None = typer.Option(None, "--merchant", help="Resolve for this merchant id."),
    policy_id: str | None = typer.Option(None, "--policy", help="Show this policy id instead of selecting."),
    policies: Path | None = policy_dir_option(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of YAML."),
) -> None:
    """The resolved policy (extends applied) that a case of CASE_TYPE would run, with its version."""
    from aftersales_cli.resolve import resolve_for_show

    policy_set = load_or_exit([policy_dir(policies)])
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
    policies: Path | None = policy_dir_option(),
) -> None:
    """The state machine as a Mermaid diagram (paste into any Markdown viewer that renders Mermaid)."""
    from aftersales_cli.resolve import resolve_for_show
    from policy_engine.tools import mermaid

    policy_set = load_or_exit([policy_dir(policies)])
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

    from policy_engine.tools import diff_sets

    changes = diff_sets(load_or_exit([old]), load_or_exit([new]))
    if as_json:
        print(json.dumps([asdict(c) for c in changes], ensure_ascii=False, indent=2))
    else:
        print_changes(changes, f"{old} -> {new}")
    raise typer.Exit(EXIT_FAILED if changes else 0)


def print_changes(changes: Sequence[Change], title: str) -> None:
    from rich.table import Table

    if not changes:
        console.print("no changes that a case would notice")
        return
    table = Table(title=f"{title}: {len(changes)} change(s)")
    for column in ("policy", "area", "what", "before", "after"):
        table.add_column(column, overflow="fold")
    for c in changes:
        table.add_row(c.policy, c.area, c.what, c.old, c.new)
    console.print(table)


@app.command()
def draft(
    folder: Path | None = typer.Argument(
        None, help="Where to make the draft (default: draft/ in the project folder).", show_default=False
    ),
    policies: Path | None = policy_dir_option("The live policy folder to copy (default: the project's policies/)."),
) -> None:
    """Start an edit: copy the live policy folder to a draft folder (default: draft/)."""
    from aftersales_cli.publish import PublishError, make_draft

    live = policy_dir(policies)
    folder = folder if folder is not None else Path(settings().home) / "draft"
    try:
        make_draft(live, folder)
    except PublishError as exc:
        err_console.print(str(exc), markup=False)
        raise typer.Exit(EXIT_INVALID) from None
    console.print(
        f"draft {where(folder)} made from {where(live)}. Edit it, then:\n"
        f"  aftersales policy validate {where(folder)}\n"
        f"  aftersales policy test -p {where(folder)} --coverage\n"
        f"  aftersales policy diff {where(live)} {where(folder)}\n"
        f"  aftersales simulate --compare {where(live)} {where(folder)} {where(folder)}/tests\n"
        f"  aftersales policy publish {where(folder)}",
        markup=False,
    )


@app.command()
def publish(
    folder: Path | None = typer.Argument(
        None, help="The draft folder to publish (default: draft/ in the project folder).", show_default=False
    ),
    policies: Path | None = policy_dir_option("The live policy folder (default: the project's policies/)."),
    fail_under: float = typer.Option(
        100.0, "--fail-under", help="Refuse when the draft's policy tests cover less of a loop (percent)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Check everything, change nothing."),
) -> None:
    """Check a draft (validate, policy tests, coverage), then swap it in for the live folder at once.

    Nothing changes unless every check passes. The previous set is kept under
    .aftersales/policy-history/ (publish it again to roll back). The worker picks the new set up
    within a second or two; open cases keep the policy they pinned.
    """
    from aftersales_cli.publish import PublishError, discard, publishing_lock, stage, swap_in
    from aftersales_cli.simulate_cmds import check_scenarios
    from policy_engine.language import PolicyError, display_path, load_policy_set
    from policy_engine.tools import diff_sets

    live = policy_dir(policies)
    folder = folder if folder is not None else Path(settings().home) / "draft"
    try:
        with publishing_lock(Path(settings().home)):
            staged = stage(folder, live)
            try:
                # The copy is what gets published, so the copy is what is checked; messages name the draft.
                shown_copy, shown_draft = display_path(staged.copy), display_path(folder)
                try:
                    new_set = load_policy_set([staged.copy])
                except PolicyError as exc:
                    for problem in exc.problems:
                        print(str(problem).replace(shown_copy, shown_draft))
                    err_console.print(f"not published: {len(exc.problems)} problem(s) in {where(folder)}")
                    raise typer.Exit(EXIT_FAILED) from None
                ok = check_scenarios(new_set, staged.copy / "tests", fail_under, rename=(shown_copy, shown_draft))
                if not ok:
                    err_console.print(f"not published: the policy tests of {where(folder)} do not pass")
                    raise typer.Exit(EXIT_FAILED)
                changes = diff_sets(load_or_exit([live]), new_set)
                print_changes(changes, f"{where(live)} -> {where(folder)}")
                if dry_run:
                    console.print(f"dry run: {where(folder)} would be published; nothing changed")
                    return
                if not changes:
                    console.print(f"nothing to publish: {where(folder)} changes nothing a case would notice")
                    return
                kept = swap_in(staged, Path(settings().home))
            finally:
                discard(staged)
    except PublishError as exc:
        err_console.print(f"not published: {exc}", markup=False)
        raise typer.Exit(EXIT_FAILED) from None
    console.print(
        f"published {where(folder)} as {where(live)} ({len(changes)} change(s)); the previous set is kept in "
        f"{where(kept)}. Workers pick it up within a second or two; open cases keep their pinned policy.",
        markup=False,
    )
