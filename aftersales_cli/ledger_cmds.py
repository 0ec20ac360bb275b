"""`aftersales ledger upgrade|tables`: the case ledger's schema (docs/ledger.md)."""

from __future__ import annotations

import typer
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from aftersales_cli.common import EXIT_FAILED, EXIT_OK, console, err_console, settings
from ledger import migrate
from ledger.schema import metadata
from ledger.store import Ledger

ledger_app = typer.Typer(help="The case ledger: its database schema and tables.", no_args_is_help=True)


def shown(url: str) -> str:
    """The database as a person may see it: never its password."""
    return make_url(url).render_as_string(hide_password=True)


def unreachable(url: str, exc: SQLAlchemyError) -> typer.Exit:
    # The driver's message may quote the URL or the server's internals: name what failed instead.
    err_console.print(
        f"aftersales: the ledger database {shown(url)} could not be used ({type(getattr(exc, 'orig', None) or exc).__name__}); "
        "check AFTERSALES_DATABASE_URL and that the server is running",
        markup=False,
    )
    return typer.Exit(EXIT_FAILED)


@ledger_app.command("upgrade")
def upgrade() -> None:
    """Bring the ledger's database to the newest schema (the worker also does it when it starts)."""
    url = settings().database_url
    try:
        ledger = Ledger(url)
        before = migrate.current(ledger.engine)
        ledger.upgrade()
    except SQLAlchemyError as exc:
        raise unreachable(url, exc) from None
    head = migrate.head()
    said = "already at" if before == head else f"upgraded from {before or 'an empty database'} to"
    console.print(f"ledger {shown(url)}: {said} revision {head}", markup=False)
    raise typer.Exit(EXIT_OK)


@ledger_app.command("tables")
def tables() -> None:
    """The ledger's tables and their columns, as a BI tool sees them."""
    for table in metadata.sorted_tables:
        listing = Table(title=table.name, title_justify="left")
        for heading in ("column", "type", "null", "key"):
            listing.add_column(heading)
        for column in table.columns:
            listing.add_row(
                column.name, str(column.type), "yes" if column.nullable else "no", "yes" if column.primary_key else ""
            )
        console.print(listing)
