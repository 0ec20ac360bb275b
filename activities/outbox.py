"""The outbox: one row per effect, unique on the engine's idempotency key, in the ledger's database.

A worker killed mid-activity retries it; the insert is ON CONFLICT DO NOTHING, so the retry finds the
row and the effect stays single. `Outbox(path)` is the embedded SQLite file (as before the ledger; an
existing file is upgraded in place, its rows kept); `Outbox(url)` any ledger database, PostgreSQL for
workers on several machines. A SQLite file holds case data (effect parameters: addresses, amounts):
it and its -wal/-shm files are owner-only (0600), in a folder of mode 0700.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ledger.schema import effects
from ledger.store import Ledger
from ledger.urls import sqlite_url

# The standard library's logging: `aftersales outbox` (no logging configured) writes it to stderr,
# never into the table it prints; the worker renders it as its other lines.
log = logging.getLogger("aftersales.outbox")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class Outbox:
    """Safe to share between threads and processes: the engine pools connections, each call is one transaction."""

    def __init__(self, where: Path | str | Ledger) -> None:
        """`where`: a SQLite file, a database URL, or the worker's open ledger (one engine for both)."""
        self.path = where if isinstance(where, Path) else None
        if isinstance(where, Ledger):
            self.ledger = where
        else:
            self.ledger = Ledger(sqlite_url(where) if isinstance(where, Path) else where)
        self.ledger.upgrade()
        self.engine = self.ledger.engine

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
        dialect = sqlite if self.engine.dialect.name == "sqlite" else postgresql
        row = {
            "key": key,
            "case_id": case_id,
            "case_type": case_type,
            "type": type,
            "params": body,
            "created_at": _now(),
            "report_key": report_key,
        }
        with self.engine.begin() as db:
            # RETURNING says whether this call inserted (a row count is not reliable across drivers).
            insert = dialect.insert(effects).values(row).on_conflict_do_nothing().returning(effects.c.key)
            if db.execute(insert).first() is not None:
                return True
            db.execute(effects.update().where(effects.c.key == key).values(attempts=effects.c.attempts + 1))
            return False

    def report_key_of(self, key: str) -> str | None:
        """The report key written with this effect (None: its result is not reported from outside)."""
        with self.engine.connect() as db:
            found: str | None = db.execute(sa.select(effects.c.report_key).where(effects.c.key == key)).scalar()
            return found

    def is_delivered(self, key: str) -> bool:
        """Whether a receiver already accepted this effect (an earlier attempt got through)."""
        with self.engine.connect() as db:
            return bool(db.execute(sa.select(effects.c.delivered_at).where(effects.c.key == key)).scalar())

    def mark_delivered(self, key: str) -> None:
        """Stamp the row once the receiver accepted it, so a retry does not send it again."""
        with self.engine.begin() as db:
            db.execute(
                effects.update()
                .where(effects.c.key == key, effects.c.delivered_at.is_(None))
                .values(delivered_at=_now())
            )

    def list(
        self, case_id: str | None = None, type: str | None = None, limit: int | None = None, *, newest: bool = False
    ) -> list[dict[str, Any]]:
        """Effects oldest first, params decoded; filtered by case and action type.

        With `limit`, the first `limit` effects, or with `newest` the last ones (still oldest first).
        """
        query = sa.select(effects)
        if case_id:
            query = query.where(effects.c.case_id == case_id)
        if type:
            query = query.where(effects.c.type == type)
        order = (effects.c.created_at.desc(), effects.c.key.desc()) if newest else (effects.c.created_at, effects.c.key)
        query = query.order_by(*order)
        if limit:
            query = query.limit(int(limit))
        with self.engine.connect() as db:
            rows = [dict(row._mapping) for row in db.execute(query)]
        if newest:
            rows.reverse()
        for row in rows:
            row["params"] = json.loads(row["params"])
        return rows

    def count(self, type: str | None = None) -> int:
        """How many effects (of one action type), for tests and the benchmark."""
        query = sa.select(sa.func.count()).select_from(effects)
        if type:
            query = query.where(effects.c.type == type)
        with self.engine.connect() as db:
            return int(db.execute(query).scalar_one())
