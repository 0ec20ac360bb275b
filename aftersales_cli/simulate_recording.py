"""`aftersales simulate --record-to URL`: each simulated case written into a ledger as the worker writes it."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import typer
from sqlalchemy.exc import SQLAlchemyError

from aftersales_cli.common import EXIT_INVALID, err_console
from aftersales_cli.ledger_cmds import shown, unreachable
from ledger.simulated import record_simulated
from ledger.store import Ledger
from ledger.urls import DatabaseUrlError
from policy_engine.language import PolicySet
from policy_engine.testing import Scenario, SimulationResult


def recording(
    url: str, policy_set: PolicySet, scenarios: list[Scenario], results: Iterable[SimulationResult]
) -> Iterator[SimulationResult]:
    """The results as they come, each written to the ledger at `url` first; a summary on stderr at the end."""
    try:
        ledger = Ledger(url)
        ledger.upgrade()
    except DatabaseUrlError as exc:
        err_console.print(f"--record-to: {exc}", markup=False)
        raise typer.Exit(EXIT_INVALID) from None
    except SQLAlchemyError as exc:
        raise unreachable(url, exc) from None
    cases = rows = 0
    started = time.perf_counter()
    try:
        for scenario, result in zip(scenarios, results, strict=True):
            written = record_simulated(ledger, policy_set, scenario, result)
            cases, rows = cases + (written > 0), rows + written
            yield result
    except SQLAlchemyError as exc:
        raise unreachable(url, exc) from None
    finally:
        ledger.close()
    elapsed = time.perf_counter() - started
    err_console.print(
        f"recorded {cases} cases ({rows} rows) into {shown(url)} in {elapsed:.1f} s",
        markup=False,
    )
