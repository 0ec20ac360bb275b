"""`aftersales worker` and `aftersales dev`: the processes that run cases."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from aftersales_cli.common import err_console
from aftersales_cli.devserver import DEFAULT_ADDRESS, STATE_DIR, stop

if TYPE_CHECKING:
    from service import Settings

LOCAL_DEFAULTS = ("localhost:7233", "127.0.0.1:7233")  # what a command uses when TEMPORAL_ADDRESS is unset


def worker() -> None:
    """Run the worker (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, AFTERSALES_POLICY_DIR, ...)."""
    from worker import run_worker

    raise typer.Exit(asyncio.run(run_worker()))


def dev(
    address: str = typer.Option(
        DEFAULT_ADDRESS,
        "--address",
        envvar="TEMPORAL_ADDRESS",
        help="host:port of the Temporal server: used if one answers there, else a dev server is started there.",
    ),
    ui_port: int | None = typer.Option(
        None,
        "--ui-port",
        envvar="AFTERSALES_UI_PORT",
        help="Port of the web UI of the dev server started here (default: the server's port + 1000, so 8233 for 7233).",
    ),
) -> None:
    """Start the Temporal dev server (unless one answers at the address) and the worker, in this process."""
    from temporalio.converter import DataConverter

    from aftersales_cli.devserver import (
        answers,
        default_ui_port,
        next_free_port,
        probe,
        split_address,
        start_dev_server,
        tighten_state,
        ui_url,
        wait_until_ready,
    )
    from service import Settings, configure_logging, connect_client
    from worker import run_worker

    try:
        host, port = split_address(address)
        # The worker is this process: the same settings, with the address of the server used here.
        settings = dataclasses.replace(Settings.from_env(), address=address)
    except ValueError as exc:
        _fail(str(exc))
    ui = ui_port or default_ui_port(address)
    if not 0 < ui < 65536:
        _fail(f"AFTERSALES_UI_PORT (--ui-port) must be a port number, not {ui}")
    configure_logging(settings.log_format)  # before the first Temporal client: SDK core logs go through it too
    codec_note = _ensure_codec_keys(settings)

    try:
        # Connected as the worker will be (TLS, an API key): a TLS server is not "another program".
        found = probe(address, lambda _: connect_client(settings, DataConverter.default))
    except ValueError as exc:  # an unreadable TLS file, named
        _fail(str(exc))
    if found == "other":
        free = next_free_port(host, port + 1)
        _fail(
            f"{address} is in use by a program that is not a Temporal server (it does not answer Temporal's API).\n"
            f"Stop that program, or run on a free port: TEMPORAL_ADDRESS={host}:{free} make run"
            f"   (or aftersales dev --address {host}:{free})"
        )
    proc: subprocess.Popen[bytes] | None = None
    home = Path(settings.home)
    if found == "temporal":
        server = f"the one already answering at {address} (nothing started; its data and web UI are its own)"
        web = f"that server's (a `temporal server start-dev` on port {port} serves it at {ui_url(address, ui)})"
    else:
        if answers(f"{host}:{ui}"):
            free = next_free_port(host, ui + 1)
            _fail(
                f"the web UI port {ui} is in use (another dev server's web UI?).\n"
                f"Pick a free one: AFTERSALES_UI_PORT={free} make run   (or aftersales dev --ui-port {free})"
            )
        state = home / STATE_DIR
        db_file, log_file = state / "dev.sqlite3", state / "server.log"
        for loose in tighten_state(db_file, log_file):  # written before they were made owner-only
            err_console.print(f"aftersales dev: the dev server's files hold case data: {loose}", markup=False)
        namespaces = [settings.namespace] if settings.namespace != "default" else []
        proc = start_dev_server(address, ui, db_file, log_file, namespaces=namespaces, own_session=True)
        try:
            wait_until_ready(address, proc, log_file=log_file)
        except (RuntimeError, TimeoutError) as exc:
            stop(proc)
            _fail(str(exc))
        server = f"{address}, started here (data in {_shown(db_file)}, its log in {_shown(log_file)})"
        web = ui_url(address, ui)

    from service.identity.devmode import DEV_PRINCIPAL, ensure_dev_principal
    from service.identity.grants import GrantsError

    try:
        made = ensure_dev_principal(home, Path(settings.grants_path), _case_types(settings.policy_dir))
    except (GrantsError, OSError) as exc:
        _fail(f"dev mode: cannot make the local principal '{DEV_PRINCIPAL}': {exc}")
    err_console.print(
        "DEV MODE: callers sign with local keys; the command line signs as "
        f"'{DEV_PRINCIPAL}' (.aftersales/keys/{DEV_PRINCIPAL}.pem) when that key exists."
        + (f"\n  {made}" if made else ""),
        markup=False,
    )
    exports = []
    if address not in LOCAL_DEFAULTS:
        exports.append(f"export TEMPORAL_ADDRESS={address}")
    if settings.namespace != "default":
        exports.append(f"export TEMPORAL_NAMESPACE={settings.namespace}")
    second = [". .venv/bin/activate", *exports]
    err_console.print(
        f"Temporal server: {server}\n"
        f"web UI:          {web}\n"
        f"{codec_note}"
        f"In a second terminal, in {'this folder' if home.resolve() == Path.cwd().resolve() else home}:\n"
        + "".join(f"  {line}\n" for line in second)
        + "  aftersales case open examples/return-case.yaml\n"
        "  aftersales case event R-1001 merchant_approve --role merchant --actor M-1\n"
        "  aftersales case status R-1001      aftersales case timeline R-1001      aftersales outbox\n"
        "Stop with Ctrl-C.",
        markup=False,
    )
    try:
        code = asyncio.run(run_worker(settings))
    except KeyboardInterrupt:  # Ctrl-C before the worker took over the signal
        code = 0
    finally:
        if proc is not None:
            stop(proc)
    raise typer.Exit(code)


def _ensure_codec_keys(settings: Settings) -> str:
    """Dev mode makes the codec key file when missing; what the user should know about the payloads."""
    if settings.payloads == "plain":
        return "payloads:        NOT ENCRYPTED (AFTERSALES_PAYLOADS=plain)\n"
    from service.codec_keys import CodecKeyError, ensure_key_ring

    path = Path(settings.codec_keys_path)
    try:
        made = ensure_key_ring(path, dt.datetime.now(dt.UTC))
    except (CodecKeyError, OSError) as exc:
        _fail(f"dev mode: cannot make the codec key file: {exc}")
    where = f"key {made.id} made in {_shown(path)}" if made else f"keys in {_shown(path)}"
    return f"payloads:        encrypted ({where}); the web UI shows case data through `aftersales codec-server`\n"


def _case_types(policy_dir: str) -> list[str]:
    from policy_engine.language import load_policy_set

    try:
        return load_policy_set([Path(policy_dir)]).case_types
    except Exception:  # the worker says what is wrong with the policies
        return ["complaint", "exchange", "refund_only", "repair", "return"]


def _fail(message: str) -> NoReturn:
    err_console.print(f"aftersales dev: {message}", markup=False)
    raise typer.Exit(1)


def _shown(path: Path) -> str:
    """A path as short as the user can use it from here."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
