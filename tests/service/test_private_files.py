"""Files that hold case data are owner-only: the outbox and the files SQLite writes beside it."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest

from activities.outbox import Outbox
from service.private_files import sqlite_files


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_outbox_and_its_wal_files_are_owner_only(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # a usual umask: what was made 0644 before
    try:
        box = Outbox(tmp_path / "data" / "outbox.sqlite3")
        box.record("C-1/1/notify", "C-1", "return", "notify", {"to": "customer"})
    finally:
        os.umask(old_umask)
    written = [p for p in sqlite_files(box.path) if p.exists()]
    assert box.path.with_name("outbox.sqlite3-wal") in written  # WAL mode: the file is there to check
    assert {p.name: mode(p) for p in written} == {p.name: 0o600 for p in written}
    assert mode(box.path.parent) == 0o700


def test_an_outbox_others_could_read_is_tightened_and_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "outbox.sqlite3"
    Outbox(path).record("C-1/1/notify", "C-1", "return", "notify", {})
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="aftersales.outbox"):
        Outbox(path)
    assert mode(path) == 0o600
    assert "outbox.sqlite3 was readable by group or others (mode 0644); now 0600" in caplog.text


def test_the_dev_servers_database_and_log_are_owner_only_and_a_loose_one_is_tightened(tmp_path: Path) -> None:
    from aftersales_cli.devserver import free_port, start_dev_server, stop, wait_until_ready

    db_file, log_file = tmp_path / "state" / "dev.sqlite3", tmp_path / "state" / "server.log"

    def run_once() -> None:
        address = f"127.0.0.1:{free_port()}"
        server = start_dev_server(address, db_file=db_file, log_file=log_file, headless=True)
        try:
            wait_until_ready(address, server, log_file=log_file)  # the server made its schema and answers
        finally:
            stop(server)

    old_umask = os.umask(0o022)
    try:
        run_once()
        assert mode(db_file) == 0o600 and mode(log_file) == 0o600 and mode(db_file.parent) == 0o700
        os.chmod(db_file, 0o644)  # loosened by hand, or made by an older release
        run_once()  # the same database again: tightened, and the server still starts on it
    finally:
        os.umask(old_umask)
    assert mode(db_file) == 0o600
