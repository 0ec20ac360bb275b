"""`aftersales simulate` and `aftersales policy test`: scenarios in virtual time on the pure engine."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from aftersales_cli.common import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    console,
    err_console,
    load_or_exit,
    policy_dir,
    policy_dir_option,
    print_problems,
)
from policy_engine.engine import (
    ActionEntry,
    CounterEntry,
    DecisionEntry,
    ErrorEntry,
    EscalationEntry,
    EventEntry,
    OpenEntry,
    RefusedEntry,
    SlaEntry,
    TimerEntry,
    TransitionEntry,
    TypedEntry,
    VariableEntry,
    typed_entry,
)
from policy_engine.language import PolicyError, PolicySet, display_path
from policy_engine.testing import (
    Scenario,
    SimulationResult,
    compare_results,
    coverage,
    load_scenario,
    run_scenario,
    scenario_files,
)

PROGRESS_THRESHOLD = 20  # show a progress bar from this many scenarios on


def load_scenarios_or_exit(paths: Sequence[Path], *, rename: tuple[str, str] | None = None) -> list[Scenario]:
    files = scenario_files(list(paths))
    scenarios: list[Scenario] = []
    problems: list[PolicyError] = []
    for path in files:
        try:
            scenarios.append(load_scenario(path, display_path(path)))
        except PolicyError as exc:
            problems.append(exc)
    if problems:
        for problem in problems:
            if rename:
                for line in problem.problems:
                    print(str(line).replace(*rename))
            else:
                print_problems(problem)
        raise typer.Exit(EXIT_INVALID)
    if not scenarios:
        err_console.print("no scenario files given")
        raise typer.Exit(EXIT_INVALID)
    # The loaded scenarios live until the command ends. Moving them out of the collector's reach
    # saves it from scanning thousands of them again and again while cases run (a fifth of a
    # 10,000-file run).
    gc.freeze()
    return scenarios


def _progress(total: int, label: str, enabled: bool) -> Progress | None:
    if not enabled or total < PROGRESS_THRESHOLD:
        return None
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )


def run_all(
    policy_set: PolicySet, scenarios: list[Scenario], *, label: str, show: bool = True
) -> Iterator[SimulationResult]:
    """Run scenarios with a progress bar on the terminal when there are many."""
    import time

    progress = _progress(len(scenarios), label, show and err_console.is_terminal)
    if progress is None:
        for scenario in scenarios:
            yield run_scenario(policy_set, scenario)
        return
    started = time.perf_counter()
    with progress:
        task = progress.add_task(label, total=len(scenarios), rate="")
        for i, scenario in enumerate(scenarios, start=1):
            yield run_scenario(policy_set, scenario)
            if i % 50 == 0 or i == len(scenarios):
                rate = i / max(time.perf_counter() - started, 1e-9)
                progress.update(task, completed=i, rate=f"{rate:,.0f}/s")


def describe_entry(entry: TypedEntry) -> str:
    """One line saying what an entry of the audit trail records."""
    name = entry.name
    if isinstance(entry, EventEntry):
        event = entry.detail
        data = f" {json.dumps(event.data, ensure_ascii=False)}" if event.data else ""
        return f"{name} by {event.actor.role} {event.actor.id}{data}".strip()
    if isinstance(entry, RefusedEntry):
        # An event the policy does not declare is recorded without its name (a caller wrote it).
        return f"{name or 'an undeclared event'} refused: {entry.detail.reason}"
    if isinstance(entry, TransitionEntry):
        move = entry.detail
        if move.error:
            return f"error: {move.error}"
        return f"{move.from_ or '(open)'} -> {move.to} (via {move.via})"
    if isinstance(entry, DecisionEntry):
        decision = entry.detail
        if decision.error:
            return f"{name}: error: {decision.error}"
        return f"{name}: row {decision.rule} -> {json.dumps(decision.outputs, ensure_ascii=False)}"
    if isinstance(entry, ActionEntry):
        action = entry.detail
        if action.error:
            return f"{name} not run: {action.error}"
        if action.params is not None:
            params = action.params
        else:  # entries written before actions kept their parameters apart
            params = {k: v for k, v in action.model_dump(by_alias=True, exclude_unset=True).items() if k != "key"}
        shown = {k: v for k, v in params.items() if k != "message"}
        return f"{name} {json.dumps(shown, ensure_ascii=False)}"
    if isinstance(entry, SlaEntry):
        due = f" due {entry.detail.due}" if entry.detail.due else ""
        return f"{name}: {entry.detail.status}{due}"
    if isinstance(entry, EscalationEntry):
        ladder = entry.detail
        if ladder.level:
            return f"{name}: level {ladder.level}"
        return f"{name}: {'started' if ladder.started else 'stopped'}"
    if isinstance(entry, TimerEntry):
        timer = entry.detail
        return (
            f"{name} fired"
            + (f" in {timer.state}" if timer.state else "")
            + (f" ({timer.error})" if timer.error else "")
        )
    if isinstance(entry, CounterEntry):
        return f"{name} = {json.dumps(entry.detail.value, ensure_ascii=False)}"
    if isinstance(entry, VariableEntry):
        variable = entry.detail
        if "error" in variable.model_fields_set:
            return f"{name}: {variable.error}"
        return f"{name} = {json.dumps(variable.value, ensure_ascii=False)}"
    if isinstance(entry, ErrorEntry):
        row = f" (row {entry.detail.rule})" if entry.detail.rule else ""
        return f"{name}{row}: {entry.detail.message}"
    if isinstance(entry, OpenEntry):
        opened = f"{name} case on policy {entry.detail.policy} ({entry.detail.version[:12]})"
        backdated = (entry.detail.model_extra or {}).get("backdated")
        if isinstance(backdated, dict):  # a worker that allows backdating opened it in the past (or future)
            days = float(backdated.get("seconds_before_server_time") or 0) / 86400
            opened += f", backdated {days:.1f} days (opened_at {backdated.get('opened_at')})"
        earlier = (entry.detail.model_extra or {}).get("earlier_entries")
        if isinstance(earlier, dict) and earlier.get("entries"):  # left in earlier runs at continue-as-new
            opened += (
                f"; {earlier['entries']} earlier entries are in the histories of earlier runs (aftersales audit show)"
            )
        return opened
    return f"closed in {name}"


def print_result(result: SimulationResult) -> None:
    verdict = {True: "[green]PASS[/green]", False: "[red]FAIL[/red]", None: ""}[result.passed]
    console.rule(f"{result.file or result.case_id}  {result.case_type} {result.case_id}  {verdict}")
    if result.timeline:
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("at", no_wrap=True)
        table.add_column("kind")
        table.add_column("what")
        for entry in result.timeline:
            at = str(entry["at"]).replace("T", " ")[:19]
            style = {
                "refused": "red",
                "error": "bold red",
                "transition": "cyan",
                "action": "yellow",
                "sla": "magenta",
                "escalation": "red",
            }.get(entry["kind"], "")
            table.add_row(at, entry["kind"], describe_entry(typed_entry(entry)), style=style)
        console.print(table)
    if result.error:
        console.print(f"[red]error:[/red] {result.error}")
    else:
        sla = ", ".join(f"{k}: {v['status']}" for k, v in result.sla.items()) or "none"
        console.print(
            f"final state [bold]{result.final_state}[/bold]  closed: {result.closed}  SLA: {sla}  "
            f"policy {result.policy_id} ({result.policy_version[:12]})"
        )
    for failure in result.failures:
        console.print(f"  [red]✗[/red] {failure}")


def simulate(
    files: list[Path] = typer.Argument(None, help="Scenario files or folders."),
    policies: Path | None = policy_dir_option(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (one object, or a list for several)."),
    compare: tuple[Path, Path] | None = typer.Option(
        None,
        "--compare",
        help="OLD_DIR NEW_DIR: run every scenario under both policy sets and show what changes.",
    ),
    cases: str | None = typer.Option(
        None,
        "--cases",
        help="With --compare: real cases a visibility query lists, instead of files.",
        show_default=False,
    ),
    closed_since: str | None = typer.Option(
        None, "--closed-since", help="With --compare: real cases closed since this date.", show_default=False
    ),
    record_to: str | None = typer.Option(
        None,
        "--record-to",
        metavar="URL",
        help="Also write each simulated case into the case ledger at URL (sqlite:///FILE or postgresql+psycopg://...).",
    ),
) -> None:
    """Run scenarios in virtual time and print their timelines (exit 1 if an expectation fails)."""
    if compare is not None and (cases is not None or closed_since is not None):
        from aftersales_cli.audit_cmds import past_cases_or_exit

        _compare(compare[0], compare[1], past_cases_or_exit(cases, closed_since), as_json)
        return
    if not files:
        err_console.print("give at least one scenario file or folder")
        raise typer.Exit(EXIT_INVALID)
    scenarios = load_scenarios_or_exit(files)
    if compare is not None:
        _compare(compare[0], compare[1], scenarios, as_json)
        return
    policy_set = load_or_exit([policy_dir(policies)])
    results = run_all(policy_set, scenarios, label="simulating")
    if record_to is not None:
        from aftersales_cli.simulate_recording import recording

        results = recording(record_to, policy_set, scenarios, results)
    failed = print_json(results, single=len(scenarios) == 1) if as_json else print_text(results)
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)


def print_json(results: Iterable[SimulationResult], *, single: bool) -> bool:
    """Print results as they come: one object for one scenario, else a list. True if any failed.

    Indented for a person; one line per result when many go to a program. Each result is
    serialised by pydantic in one call, and none is kept once printed, so a run over thousands
    of files neither waits for the last one nor holds them all.
    """
    out = sys.stdout
    if single:
        result = next(iter(results))
        out.write(result.model_dump_json(indent=2) + "\n")
        return result.passed is False
    indent = 2 if out.isatty() else None
    failed = False
    out.write("[")
    for n, result in enumerate(results):
        out.write(("," if n else "") + "\n" + result.model_dump_json(indent=indent))
        failed = failed or result.passed is False
    out.write("\n]\n")
    return failed


def print_text(results: Iterable[SimulationResult]) -> bool:
    failed = False
    for result in results:
        print_result(result)
        failed = failed or result.passed is False
    return failed


def _compare(old_dir: Path, new_dir: Path, scenarios: list[Scenario], as_json: bool) -> None:
    old_set = load_or_exit([old_dir])
    new_set = load_or_exit([new_dir])
    old = list(run_all(old_set, scenarios, label="old policies"))
    new = list(run_all(new_set, scenarios, label="new policies"))
    report = compare_results(old, new)
    if as_json:
        print(json.dumps(report.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    table = Table(title=f"what changes from {old_dir} to {new_dir}", header_style="bold")
    table.add_column("scenario")
    table.add_column("what changed")
    table.add_column("old")
    table.add_column("new")
    for change in report.changed:
        for field_change in change.changes:
            table.add_row(change.scenario, field_change.field, field_change.old, field_change.new)
    if report.changed:
        console.print(table)
    for paid in report.money:  # in total, what each kind of payment would come to
        if paid.old != paid.new:
            console.print(f"{paid.action}: {paid.old} -> {paid.new} in total")
    console.print(
        f"{len(report.changed)} of {report.total} scenarios change outcome; "
        f"{report.total - len(report.changed)} unchanged"
    )


def policy_test(
    folder: Path | None = typer.Argument(
        None, help="Scenario files or folders with `expect` (default: the policy folder's tests/).", show_default=False
    ),
    policies: Path | None = policy_dir_option("The policy folder to test (default: the project's policies/)."),
    show_coverage: bool = typer.Option(False, "--coverage", help="List what no test reached, per loop."),
    fail_under: float | None = typer.Option(
        None, "--fail-under", help="Exit 1 if a loop's coverage is lower (percent).", show_default=False
    ),
) -> None:
    """Run every scenario with its `expect`; pass/fail per file (exit 1 on any failure)."""
    policies = policy_dir(policies)
    policy_set = load_or_exit([policies])
    ok = check_scenarios(
        policy_set, folder if folder is not None else policies / "tests", fail_under, show_coverage=show_coverage
    )
    raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


def check_scenarios(
    policy_set: PolicySet,
    folder: Path,
    fail_under: float | None,
    *,
    show_coverage: bool = False,
    rename: tuple[str, str] | None = None,
) -> bool:
    """Run the policy tests in `folder`; print each result and the coverage; True when all pass.

    `rename` (shown, meant) names a staged copy in messages by the folder the operator edited.
    """
    scenarios = load_scenarios_or_exit([folder], rename=rename)
    results = list(run_all(policy_set, scenarios, label="testing"))
    failed = 0
    for result in results:
        name = result.file.replace(*rename) if rename else result.file
        if result.passed is None:
            console.print(f"[yellow]NO EXPECT[/yellow] {name}")
        elif result.passed:
            console.print(f"[green]PASS[/green] {name}")
        else:
            failed += 1
            console.print(f"[red]FAIL[/red] {name}")
            for failure in result.failures:
                console.print(f"     {failure}")
    below = False
    if show_coverage or fail_under is not None:
        below = _print_coverage(policy_set, results, fail_under, show_coverage)
    passed = sum(1 for r in results if r.passed)
    print(f"{passed} passed, {failed} failed")
    return not failed and not below


def _print_coverage(
    policy_set: PolicySet, results: list[SimulationResult], fail_under: float | None, detail: bool
) -> bool:
    loops = coverage(policy_set, results)
    table = Table(title="policy test coverage", header_style="bold")
    for col in ("loop", "states", "transitions", "timers", "decision rows", "total"):
        table.add_column(col, justify="right" if col != "loop" else "left")
    below = False
    for loop in loops:
        cells = []
        for kind in ("state", "transition", "timer", "decision"):
            exp = {i for i in loop.expected if i[0] == kind}
            got = exp & loop.reached
            cells.append(f"{len(got)}/{len(exp)}")
        table.add_row(loop.case_type, *cells, f"{loop.percent:.0f}%")
        if fail_under is not None and loop.percent < fail_under:
            below = True
    console.print(table)
    if detail:
        for loop in loops:
            for kind, what in loop.missing:
                console.print(f"  not reached in {loop.case_type}: {kind} {what}")
    return below
