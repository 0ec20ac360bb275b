"""Alembic migrations, run from code (no alembic.ini): `upgrade` brings a database to the newest schema.

Several workers may start at once. Each upgrades inside one transaction that first takes a lock
(SQLite: the database's write lock, `BEGIN IMMEDIATE`; PostgreSQL: a transaction-scoped advisory
lock), so the second waits for the first and then finds nothing to do.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any fixed number: the advisory lock that serialises upgrades of one PostgreSQL database.
_UPGRADE_LOCK = 0x41465453_4C454447  # "AFTSLEDG"


def config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision the code knows."""
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None, "the ledger has no migration"
    return revision


def current(engine: sa.Engine) -> str | None:
    """The revision the database is at (None: never upgraded)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: sa.Engine) -> None:
    """Migrate to the newest revision, one process at a time; a database already there is left alone."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
        command.upgrade(config(connection), "head")
