"""Alembic's environment: the connection comes from ledger.migrate (inside its locked transaction)."""

from __future__ import annotations

from alembic import context

from ledger.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run the ledger's migrations through ledger.migrate.upgrade (`aftersales ledger upgrade`)")
# SQLite alters tables by copying them ("batch" mode); PostgreSQL alters them in place.
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
