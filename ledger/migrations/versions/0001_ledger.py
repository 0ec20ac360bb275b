"""The case ledger's tables, and the outbox's `effects` table moved into the same database.

An outbox file written before the ledger already has `effects` (perhaps without `report_key`):
it is kept, with its rows, and completed.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NAME = sa.String(200)
TIME = sa.DateTime(timezone=True)
MONEY = sa.Numeric(14, 2, asdecimal=False)


def _fact_table(name: str, *columns: sa.Column[object]) -> None:
    op.create_table(
        name,
        sa.Column("case_id", NAME, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("at", TIME, nullable=False),
        *columns,
        sa.PrimaryKeyConstraint("case_id", "seq"),
    )


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("case_id", NAME, primary_key=True),
        sa.Column("case_type", NAME, nullable=False),
        sa.Column("merchant", NAME),
        sa.Column("category", NAME),
        sa.Column("channel", NAME),
        sa.Column("priority", NAME),
        sa.Column("policy_id", NAME, nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("opened_at", TIME, nullable=False),
        sa.Column("closed_at", TIME),
        sa.Column("final_state", NAME),
        sa.Column("refund_total", MONEY, nullable=False, server_default="0"),
    )
    op.create_index("cases_opened", "cases", ["opened_at"])
    op.create_index("cases_merchant", "cases", ["merchant", "opened_at"])
    _fact_table(
        "transitions",
        sa.Column("from_state", NAME),
        sa.Column("to_state", NAME, nullable=False),
        sa.Column("via_kind", sa.String(20), nullable=False),
        sa.Column("via", NAME, nullable=False),
    )
    op.create_table(
        "sla_clocks",
        sa.Column("case_id", NAME, nullable=False),
        sa.Column("clock", NAME, nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("time_base", sa.String(20), nullable=False),
        sa.Column("target_seconds", sa.Integer, nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("due_at", TIME),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("running_seconds", sa.Integer, nullable=False),
        sa.Column("paused_seconds", sa.Integer, nullable=False),
        sa.Column("warned_at", TIME),
        sa.Column("breached_at", TIME),
        sa.Column("ended_at", TIME),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("running_since", TIME),
        sa.Column("paused_since", TIME),
        sa.PrimaryKeyConstraint("case_id", "clock", "round"),
    )
    op.create_index("sla_clocks_started", "sla_clocks", ["clock", "started_at"])
    _fact_table(
        "escalations",
        sa.Column("ladder", NAME),
        sa.Column("step", sa.String(20), nullable=False),
        sa.Column("level", sa.Integer),
        sa.Column("cause", NAME),
    )
    _fact_table("referrals", sa.Column("kind", sa.String(20), nullable=False))
    _fact_table("satisfaction", sa.Column("responded", sa.Boolean, nullable=False), sa.Column("score", sa.Integer))
    _fact_table(
        "refunds",
        sa.Column("action", NAME, nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("effect_key", NAME, nullable=False),
    )
    _fact_table("decisions", sa.Column("decision", NAME, nullable=False), sa.Column("rule", NAME, nullable=False))
    _effects()


def _effects() -> None:
    existing = sa.inspect(op.get_bind())
    if not existing.has_table("effects"):
        op.create_table(
            "effects",
            sa.Column("key", sa.Text, primary_key=True),
            sa.Column("case_id", sa.Text, nullable=False),
            sa.Column("case_type", sa.Text, nullable=False),
            sa.Column("type", sa.Text, nullable=False),
            sa.Column("params", sa.Text, nullable=False),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("delivered_at", sa.Text),
            sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
            sa.Column("report_key", sa.Text),
        )
        op.create_index("effects_case", "effects", ["case_id"])
        op.create_index("effects_type", "effects", ["type"])
        return
    # The SQLite outbox before the ledger: same columns, except `report_key` in the oldest files.
    if "report_key" not in {column["name"] for column in existing.get_columns("effects")}:
        op.add_column("effects", sa.Column("report_key", sa.Text))


def downgrade() -> None:
    for table in ("decisions", "refunds", "satisfaction", "referrals", "escalations", "sla_clocks", "transitions"):
        op.drop_table(table)
    op.drop_table("cases")  # `effects` stays: it holds the outbox's rows, which predate the ledger
