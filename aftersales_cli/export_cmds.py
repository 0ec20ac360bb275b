"""`aftersales case export CASE --as-scenario`: a real case as a policy test (a scenario file)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer

from aftersales_cli.case_cmds import case_app
from aftersales_cli.common import EXIT_FAILED, EXIT_INVALID, err_console, settings
from audit.history import CaseHistory, HistoryError, fetch_case
from audit.replay import replay_case
from audit.scenario import case_scenario, expectation_of, scenario_yaml
from audit.verify import pinned_of, verify_case


@case_app.command("export")
def export_case(
    case_id: str = typer.Argument(..., help="The case id (R-1001)."),
    as_scenario: bool = typer.Option(False, "--as-scenario", help="Write a scenario file (the only format yet)."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write here (0600) instead of standard output.", show_default=False
    ),
) -> None:
    """A case as a scenario file: its opening and accepted events at their times, its actual outcome as
    `expect`. `aftersales policy test FILE` passes it on the policy the case pinned.

    The file holds the case's data (names, phone numbers, addresses): personal data, kept as such.
    """
    if not as_scenario:
        err_console.print("say what to export as: --as-scenario", markup=False)
        raise typer.Exit(EXIT_INVALID)
    case = asyncio.run(_fetch(case_id))
    policy = pinned_of(case)
    if policy is None:
        err_console.print(f"case {case_id} never opened: it has no outcome to export", markup=False)
        raise typer.Exit(EXIT_FAILED)
    if not verify_case(case).verified:
        err_console.print(
            f"case {case_id} does not follow its pinned policy, so no policy test can state its outcome; "
            f"`aftersales audit verify {case_id}` shows where",
            markup=False,
        )
        raise typer.Exit(EXIT_FAILED)
    header = (
        f"Case {case_id} as it happened, exported from its history. Policy {policy.id} {policy.version[:12]}.\n"
        "Contains the case's personal data."
    )
    text = scenario_yaml(case_scenario(case, policy), expectation_of(replay_case(case, policy)), header)
    if out is None:
        print(text, end="")
        return
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    os.chmod(out, 0o600)  # also when the file existed with wider permissions
    err_console.print(f"wrote {out}", markup=False)


async def _fetch(case_id: str) -> CaseHistory:
    from temporalio.service import RPCError, RPCStatusCode

    from service.settings import connect_client

    client = await connect_client(settings())
    try:
        return await fetch_case(client, case_id)
    except RPCError as exc:
        message = f"no case {case_id}" if exc.status == RPCStatusCode.NOT_FOUND else exc.message
        err_console.print(message, markup=False)
        raise typer.Exit(EXIT_FAILED) from None
    except HistoryError as exc:
        err_console.print(str(exc), markup=False)
        raise typer.Exit(EXIT_FAILED) from None
