"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary folder, a free port, gone at the end.

The server binaries come from `pg_config --bindir` (Debian: /usr/lib/postgresql/15/bin). PostgreSQL
refuses to run as root, so as root the cluster belongs to an unprivileged user (`postgres`, else
`nobody`) and its commands run through `runuser`. Without binaries the tests skip, saying why, unless
AFTERSALES_REQUIRE_POSTGRES=1 (CI) makes that a failure.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REQUIRE = "AFTERSALES_REQUIRE_POSTGRES"
DATABASE = "aftersales_test"


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE) == "1":
        pytest.fail(f"PostgreSQL is required ({REQUIRE}=1) but {reason}")
    pytest.skip(f"no PostgreSQL for the ledger tests: {reason} (install postgresql to run them)")


def _bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip()
        if found and (Path(found) / "initdb").exists():
            return Path(found)
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    return None


def _server_user() -> pwd.struct_passwd | None:
    """The user the cluster runs as: None for the current one, an unprivileged one when we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    def __init__(self, bindir: Path, user: pwd.struct_passwd | None) -> None:
        self.bindir = bindir
        self.user = user
        self.root = Path(tempfile.mkdtemp(prefix="aftersales-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        if user is not None:
            os.chown(self.root, user.pw_uid, user.pw_gid)

    def run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user.pw_name, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")

    @property
    def role(self) -> str:
        return self.user.pw_name if self.user is not None else pwd.getpwuid(os.geteuid()).pw_name

    def start(self) -> str:
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.role, "--no-sync", "-E", "UTF8")
        # Only the socket in the temporary folder: no TCP listener, nothing another host can reach.
        options = f"-k {self.root} -p {self.port} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
        self.run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")
        self.run("createdb", "-h", str(self.root), "-p", str(self.port), "-U", self.role, DATABASE)
        return f"postgresql+psycopg://{self.role}@/{DATABASE}?host={self.root}&port={self.port}"

    def stop(self) -> None:
        try:
            self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of a fresh database in a cluster started for this test session."""
    bindir = _bindir()
    if bindir is None:
        _unavailable("no initdb found (pg_config --bindir, /usr/lib/postgresql/*/bin)")
    assert bindir is not None
    user = _server_user()
    if os.geteuid() == 0 and (user is None or shutil.which("runuser") is None):
        _unavailable("running as root with neither a postgres nor a nobody user and runuser to run it as")
    cluster = Cluster(bindir, user)
    try:
        url = cluster.start()
    except RuntimeError as exc:
        shutil.rmtree(cluster.root, ignore_errors=True)
        _unavailable(f"the test cluster did not start: {exc}")
        raise
    try:
        yield url
    finally:
        cluster.stop()
