"""The embedded SQLite outbox: one row per effect, unique on the engine's idempotency key.

A worker killed mid-activity retries it; the insert is `INSERT OR IGNORE`, so the retry finds the
row and the effect stays single. Several worker processes may share the file (WAL, busy timeout).
The file holds case data (effect parameters: addresses, amounts): it and its -wal/-shm files are
owner-only (0600).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from service.private_files import create_private, sqlite_files, tighten

_SCHEMA = """
CREATE TABLE IF NOT EXISTS effects (
    key          TEXT PRIMARY KEY,
    case_id      TEXT NOT NULL,
    case_type    TEXT NOT NULL,
    type         TEXT NOT NULL,
    params       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    delivered_at TEXT,
    attempts     INTEGER NOT NULL DEFAULT 1,
    report_key   TEXT
);
CREATE INDEX IF NOT EXISTS effects_case ON effects (case_id);
CREATE INDEX IF NOT EXISTS effects_type ON effects (type);
"""


# The standard library's logging: `aftersales outbox` (no logging configured) writes it to stderr,
# never into the table it prints; the worker renders it as its other lines.
log = logging.getLogger("aftersales.outbox")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class Outbox:
    """Safe to share between threads and processes: each thread keeps its own connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # SQLite gives its -wal and -shm files the database file's mode: a 0600 database keeps them 0600.
        for loose in tighten(sqlite_files(path)):
            log.warning("the outbox holds case data: %s", loose)
        create_private(path)
        for attempt in range(50):
            try:
                db = self._connect()
                # Switching the journal mode takes an exclusive lock and does not wait on busy: retry.
                if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    db.execute("PRAGMA journal_mode=WAL")
                db.executescript(_SCHEMA)
                _add_report_key(db)
                return
            except sqlite3.OperationalError:
                if attempt == 49:
                    raise
                time.sleep(0.05)

    def _connect(self) -> sqlite3.Connection:
        # One connection per thread, kept open: activities run on a thread pool and sqlite3 objects
        # belong to their thread; closing the last connection to a WAL file checkpoints it, which
        # made every effect pay a checkpoint when connections were opened per call.
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    def record(
        self,
        key: str,
        case_id: str,
        case_type: str,
        type: str,
        params: dict[str, Any],
        *,
        report_key: str | None = None,
    ) -> bool:
        """Write the effect once; True when this call wrote it, False when a retry found it.

        `report_key`: the one-time key with which the service this effect goes to sends its `reports`
        event back (a deferred report); a retry keeps the first attempt's (see `report_key_of`).
        """
        body = json.dumps(params, ensure_ascii=False, sort_keys=True, default=str)
        db = self._connect()
        cur = db.execute(
            "INSERT OR IGNORE INTO effects (key, case_id, case_type, type, params, created_at, report_key) "
            "VALUES (?,?,?,?,?,?,?)",
            (key, case_id, case_type, type, body, _now(), report_key),
        )
        if cur.rowcount == 0:
            db.execute("UPDATE effects SET attempts = attempts + 1 WHERE key = ?", (key,))
            return False
        return True

    def report_key_of(self, key: str) -> str | None:
        """The report key written with this effect (None: its result is not reported from outside)."""
        row = self._connect().execute("SELECT report_key FROM effects WHERE key = ?", (key,)).fetchone()
        return None if row is None else row["report_key"]

    def is_delivered(self, key: str) -> bool:
        """Whether a receiver already accepted this effect (an earlier attempt got through)."""
        db = self._connect()
        row = db.execute("SELECT delivered_at FROM effects WHERE key = ?", (key,)).fetchone()
        return bool(row and row["delivered_at"])

    def mark_delivered(self, key: str) -> None:
        """Stamp the row once the receiver accepted it, so a retry does not send it again."""
        db = self._connect()
        db.execute("UPDATE effects SET delivered_at = ? WHERE key = ? AND delivered_at IS NULL", (_now(), key))

    def list(
        self, case_id: str | None = None, type: str | None = None, limit: int | None = None, *, newest: bool = False
    ) -> list[dict[str, Any]]:
        """Effects oldest first, params decoded; filtered by case and action type.

        With `limit`, the first `limit` effects, or with `newest` the last ones (still oldest first).
        """
        query = "SELECT * FROM effects"
        where, args = [], []
        if case_id:
            where.append("case_id = ?")
            args.append(case_id)
        if type:
            where.append("type = ?")
            args.append(type)
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY created_at DESC, key DESC" if newest else " ORDER BY created_at, key"
        if limit:
            query += f" LIMIT {int(limit)}"
        db = self._connect()
        rows = [dict(r) for r in db.execute(query, args).fetchall()]
        if newest:
            rows.reverse()
        for row in rows:
            row["params"] = json.loads(row["params"])
        return rows

    def count(self, type: str | None = None) -> int:
        """How many effects (of one action type), for tests and the benchmark."""
        db = self._connect()
        if type:
            return int(db.execute("SELECT COUNT(*) FROM effects WHERE type = ?", (type,)).fetchone()[0])
        return int(db.execute("SELECT COUNT(*) FROM effects").fetchone()[0])


def _add_report_key(db: sqlite3.Connection) -> None:
    """An outbox written before effects had report keys gets the column (once, whoever comes first)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(effects)").fetchall()}
    if "report_key" not in columns:
        try:
            db.execute("ALTER TABLE effects ADD COLUMN report_key TEXT")
        except sqlite3.OperationalError as exc:  # another process added it in between
            if "duplicate column" not in str(exc):
                raise
