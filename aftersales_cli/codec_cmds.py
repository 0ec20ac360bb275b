"""`aftersales codec new-key|keys` (the payload encryption keys) and `aftersales codec-server`."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import typer
from rich.table import Table

from aftersales_cli.common import EXIT_FAILED, EXIT_INVALID, console, err_console, settings, show_time, where

codec_app = typer.Typer(
    help="The keys that encrypt case data in Temporal's history (AFTERSALES_CODEC_KEYS).", no_args_is_help=True
)

DEFAULT_CODEC_PORT = 8081
KEYS_HELP = "The codec key file (default: AFTERSALES_CODEC_KEYS, .aftersales/keys/codec-keys.json)."


def _fail(message: str, code: int = EXIT_FAILED) -> typer.Exit:
    err_console.print(f"aftersales: {message}", markup=False)
    return typer.Exit(code)


def _keys_file(given: Path | None) -> Path:
    return given if given is not None else Path(settings().codec_keys_path)


@codec_app.command("new-key")
def new_key(keys_file: Path | None = typer.Option(None, "--keys", help=KEYS_HELP, show_default=False)) -> None:
    """Add a key and make it current: new payloads are encrypted with it, the older keys still decrypt."""
    from service.codec_keys import CodecKeyError, add_key

    path = _keys_file(keys_file)
    try:
        key = add_key(path, dt.datetime.now(dt.UTC))
    except CodecKeyError as exc:
        raise _fail(str(exc), EXIT_INVALID) from None
    console.print(f"added key {key.id} to {where(path)} (0600); it encrypts from now on", markup=False)
    console.print(
        "Give the same file to every worker, codec server and client (restart them to use the new key); "
        "keep the older keys while histories written with them may be read.",
        markup=False,
    )


@codec_app.command("keys")
def list_keys(keys_file: Path | None = typer.Option(None, "--keys", help=KEYS_HELP, show_default=False)) -> None:
    """The keys' ids, which one is current and when each was made (never the keys themselves)."""
    from service.codec_keys import CodecKeyError, load_key_ring

    path = _keys_file(keys_file)
    try:
        ring = load_key_ring(path)
    except CodecKeyError as exc:
        raise _fail(str(exc), EXIT_INVALID) from None
    table = Table(title=f"codec keys in {where(path)}")
    for column in ("id", "current", "created"):
        table.add_column(column)
    for key in ring.keys:
        table.add_row(key.id, "yes" if key is ring.current else "", show_time(key.created))
    console.print(table)


def codec_server(
    port: int = typer.Option(DEFAULT_CODEC_PORT, "--port", help="The port to listen on."),
    host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on: anyone reaching it can decrypt."),
    origin: list[str] | None = typer.Option(
        None,
        "--origin",
        help="A web UI origin allowed to call it (repeatable; default: the dev server's web UI, "
        "http://localhost:8233 and http://127.0.0.1:8233, or AFTERSALES_UI_PORT's).",
        show_default=False,
    ),
    keys_file: Path | None = typer.Option(None, "--keys", help=KEYS_HELP, show_default=False),
) -> None:
    """Serve /encode and /decode for the Temporal web UI and `temporal workflow show --codec-endpoint`."""
    from service.codec import EncryptionCodec
    from service.codec_keys import CodecKeyError, load_key_ring
    from service.codec_server import CodecServer

    if not 0 < port < 65536:
        raise _fail(f"--port must be a port number, not {port}", EXIT_INVALID)
    path = _keys_file(keys_file)
    try:
        ring = load_key_ring(path)
    except CodecKeyError as exc:
        raise _fail(str(exc), EXIT_INVALID) from None
    origins = origin or default_origins()
    try:
        server = CodecServer((host, port), EncryptionCodec(ring), origins)
    except OSError as exc:
        raise _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc} (--port)") from None
    endpoint = server.url
    err_console.print(
        f"codec server: {endpoint} (keys: {where(path)}, current {ring.current.id}; origins: {', '.join(origins)})\n"
        f"  web UI:   Settings (the data encoder icon) > Codec Server endpoint: {endpoint}\n"
        f"  CLI:      temporal workflow show --workflow-id case-R-1001 --codec-endpoint {endpoint}\n"
        "Stop with Ctrl-C.",
        markup=False,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def default_origins() -> list[str]:
    """The web UI of the dev server `aftersales dev` starts, as a browser names it either way."""
    from aftersales_cli.devserver import default_ui_port

    ui = os.environ.get("AFTERSALES_UI_PORT", "").strip()
    try:
        port = int(ui) if ui.isdigit() else default_ui_port(settings().address)
    except ValueError:  # TEMPORAL_ADDRESS is not host:port; the commands that connect say so
        port = default_ui_port("127.0.0.1:7233")
    return [f"http://localhost:{port}", f"http://127.0.0.1:{port}"]
