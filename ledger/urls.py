"""Database URLs the ledger accepts: a SQLite file, or PostgreSQL through psycopg.

Apart from the engine (ledger/database.py) so that the settings check a URL without importing it.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

SUPPORTED = "sqlite:///PATH or postgresql+psycopg://USER@HOST/DATABASE"


class DatabaseUrlError(ValueError):
    """A database URL this product cannot use; the message names what is wrong, never the URL (it may hold a password)."""


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def check_url(url: str) -> sa.URL:
    """`url` parsed; raises DatabaseUrlError for a URL that is not SQLite or PostgreSQL via psycopg."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError(f"not a database URL: write {SUPPORTED}") from None
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        if not parsed.database or parsed.database == ":memory:":
            raise DatabaseUrlError(f"a SQLite database needs a file: write {SUPPORTED}")
        return parsed
    if parsed.drivername == "postgresql+psycopg":
        return parsed
    raise DatabaseUrlError(f"unsupported database '{parsed.drivername}': write {SUPPORTED}")
