"""The ledger's database from its URL: an embedded SQLite file (the default) or PostgreSQL.

SQLite: the file and its -wal/-shm files are owner-only (0600) in a folder of mode 0700 (they hold
case data), WAL so that readers never wait on the writer, and every transaction `BEGIN IMMEDIATE`
with a busy timeout, so that worker processes sharing the file queue up instead of failing.
PostgreSQL: `postgresql+psycopg://`, for workers on several machines.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ledger.urls import check_url, sqlite_url
from service.private_files import create_private, sqlite_files, tighten

log = logging.getLogger("aftersales.ledger")

BUSY_TIMEOUT_MS = 30_000


def engine_for(url: str) -> sa.Engine:
    """An engine for `url` (see `check_url`)."""
    parsed = check_url(url)
    if parsed.drivername.startswith("sqlite"):
        assert parsed.database is not None
        return _sqlite_engine(Path(parsed.database))
    # pool_pre_ping: a connection the server closed (restart, idle timeout) is replaced, not failed on.
    return sa.create_engine(parsed, pool_pre_ping=True)


def _sqlite_engine(path: Path) -> sa.Engine:
    path = path.expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # SQLite gives its -wal and -shm files the database file's mode: a 0600 database keeps them 0600.
    for loose in tighten(sqlite_files(path)):
        log.warning("the ledger holds case data: %s", loose)
    create_private(path)
    engine = sa.create_engine(sqlite_url(path), connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    sa.event.listen(engine, "connect", _prepare_sqlite)
    sa.event.listen(engine, "begin", _begin_immediate)
    return engine


def _prepare_sqlite(connection: sqlite3.Connection, _record: Any) -> None:
    # The driver's own transaction handling would begin lazily (a reader that later writes could
    # then fail with "database is locked" at once); SQLAlchemy's `begin` event below begins instead.
    connection.isolation_level = None
    connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    _use_wal(connection)


def _use_wal(connection: sqlite3.Connection) -> None:
    # Switching the journal mode takes an exclusive lock and does not wait on busy: retry a while.
    for attempt in range(100):
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if attempt == 99:
                raise
            time.sleep(0.05)


def _begin_immediate(connection: sa.Connection) -> None:
    # The write lock from the start: concurrent writers wait their turn (busy timeout) in BEGIN.
    connection.exec_driver_sql("BEGIN IMMEDIATE")
