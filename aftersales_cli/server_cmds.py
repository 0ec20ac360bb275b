"""`aftersales worker` and `aftersales dev`: the processes that run cases."""

from __future__ import annotations

import asyncio

import typer

from aftersales_cli.common import err_console


def worker() -> None:
    """Run the worker (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, AFTERSALES_POLICY_DIR, ...)."""
    from worker import run_worker

    raise typer.Exit(asyncio.run(run_worker()))


def dev(
    address: str = typer.Option("127.0.0.1:7233", "--address", envvar="TEMPORAL_ADDRESS"),
    ui_port: int = typer.Option(8233, "--ui-port"),
) -> None:
    """Start the embedded Temporal dev server (if none answers) and the worker."""
    import os

    from aftersales_cli.devserver import answers, start_dev_server, wait_until_ready
    from worker import run_worker

    proc = None
    if answers(address):
        err_console.print(f"using the Temporal server already answering at {address}")
    else:
        err_console.print(f"starting the Temporal dev server at {address} (data in .temporal/dev.sqlite3)")
        proc = start_dev_server(address, ui_port)
        wait_until_ready(address, proc)
        err_console.print(f"web UI: http://localhost:{ui_port}")
    os.environ["TEMPORAL_ADDRESS"] = address
    err_console.print(
        "open a case:   aftersales case open examples/return-case.yaml\n"
        "approve it:    aftersales case event R-1001 merchant_approve --role merchant --actor M-1\n"
        "watch it:      aftersales case status R-1001   |   aftersales case timeline R-1001\n"
        "effects:       aftersales outbox"
    )
    try:
        code = asyncio.run(run_worker())
    except KeyboardInterrupt:
        code = 0
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except Exception:
                proc.kill()
    raise typer.Exit(code)
