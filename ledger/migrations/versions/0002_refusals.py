"""The `refusals` table: updates refused by their validator, which Temporal's history does not keep.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NAME = sa.String(200)
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "refusals",
        sa.Column("case_id", NAME, nullable=False),
        sa.Column("update_id", sa.String(1000), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("update_name", NAME, nullable=False),
        sa.Column("event", NAME),
        sa.Column("role", NAME),
        sa.Column("claimed_principal", NAME),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("data_sha256", sa.String(64)),
        sa.Column("data_size", sa.Integer),
        sa.PrimaryKeyConstraint("case_id", "update_id", "at"),
    )
    op.create_index("refusals_case", "refusals", ["case_id", "at"])
    op.create_index("refusals_at", "refusals", ["at"])


def downgrade() -> None:
    op.drop_table("refusals")
