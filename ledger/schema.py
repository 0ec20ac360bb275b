"""The ledger's tables (SQLAlchemy Core): what a BI tool and the reports read. Reference: docs/ledger.md.

Every row has a natural key (the case and the audit-trail entry's sequence number, or the clock and
its round), so writing the same facts twice inserts nothing. Times are stored in UTC. The outbox's
`effects` table lives in the same database (activities/outbox.py).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# Money: two decimals are enough for every currency the platform settles in; read back as float.
Money = sa.Numeric(14, 2, asdecimal=False)
Time = sa.DateTime(timezone=True)
# Ids and names are short in practice; the bound keeps PostgreSQL and SQLite alike.
Name = sa.String(200)


def _case_id() -> sa.Column[str]:
    return sa.Column("case_id", Name, nullable=False)


def _seq() -> sa.Column[int]:
    # The entry's position in the case's audit trail (0 is the opening): its natural key.
    return sa.Column("seq", sa.Integer, nullable=False)


cases = sa.Table(
    "cases",
    metadata,
    sa.Column("case_id", Name, primary_key=True),
    sa.Column("case_type", Name, nullable=False),
    sa.Column("merchant", Name),
    sa.Column("category", Name),
    sa.Column("channel", Name),
    sa.Column("priority", Name),
    sa.Column("policy_id", Name, nullable=False),
    sa.Column("policy_version", sa.String(64), nullable=False),
    sa.Column("opened_at", Time, nullable=False),
    sa.Column("closed_at", Time),
    sa.Column("final_state", Name),  # the terminal state the case closed in; NULL while open
    sa.Column("refund_total", Money, nullable=False, server_default="0"),
    sa.Index("cases_opened", "opened_at"),
    sa.Index("cases_merchant", "merchant", "opened_at"),
)

transitions = sa.Table(
    "transitions",
    metadata,
    _case_id(),
    _seq(),
    sa.Column("at", Time, nullable=False),
    sa.Column("from_state", Name),  # NULL: the opening
    sa.Column("to_state", Name, nullable=False),
    sa.Column("via_kind", sa.String(20), nullable=False),  # open, handler, sla, escalation, on_enter
    sa.Column("via", Name, nullable=False),  # the event or timer, or `sla CLOCK breach`, as the timeline shows it
    sa.PrimaryKeyConstraint("case_id", "seq"),
)

sla_clocks = sa.Table(
    "sla_clocks",
    metadata,
    _case_id(),
    sa.Column("clock", Name, nullable=False),
    sa.Column("round", sa.Integer, nullable=False),  # 1, and 2... for clocks that restart
    sa.Column("time_base", sa.String(20), nullable=False),  # calendar, working_days, business_hours
    sa.Column("target_seconds", sa.Integer, nullable=False),  # from start to the first due time
    sa.Column("started_at", Time, nullable=False),
    sa.Column("due_at", Time),  # the latest due time (moves when a pause ends)
    sa.Column("status", sa.String(20), nullable=False),  # running, paused, met, stopped, breached
    sa.Column("running_seconds", sa.Integer, nullable=False),  # up to the last fact recorded
    sa.Column("paused_seconds", sa.Integer, nullable=False),
    sa.Column("warned_at", Time),
    sa.Column("breached_at", Time),
    sa.Column("ended_at", Time),  # met, stopped, or a breached clock reaching its stop; NULL while it runs
    # Bookkeeping that makes the fold resumable and idempotent: the last entry folded in, and since
    # when the clock runs or is paused (one of the two is set until it ends).
    sa.Column("last_seq", sa.Integer, nullable=False),
    sa.Column("running_since", Time),
    sa.Column("paused_since", Time),
    sa.PrimaryKeyConstraint("case_id", "clock", "round"),
    sa.Index("sla_clocks_started", "clock", "started_at"),
)

escalations = sa.Table(
    "escalations",
    metadata,
    _case_id(),
    _seq(),
    sa.Column("at", Time, nullable=False),
    sa.Column("ladder", Name),  # NULL for an `escalate` action
    sa.Column("step", sa.String(20), nullable=False),  # a ladder's started, level, stopped; or action
    sa.Column("level", sa.Integer),  # with steps `level` and `action`
    sa.Column("cause", Name),  # with step `started`: case, state:NAME, sla:CLOCK
    sa.PrimaryKeyConstraint("case_id", "seq"),
)

referrals = sa.Table(
    "referrals",
    metadata,
    _case_id(),
    _seq(),
    sa.Column("at", Time, nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),  # mediation, regulator
    sa.PrimaryKeyConstraint("case_id", "seq"),
)

satisfaction = sa.Table(
    "satisfaction",
    metadata,
    _case_id(),
    _seq(),
    sa.Column("at", Time, nullable=False),
    sa.Column("responded", sa.Boolean, nullable=False),  # false: the follow-up got no answer
    sa.Column("score", sa.Integer),  # 1 to 5 when responded
    sa.PrimaryKeyConstraint("case_id", "seq"),
)

refunds = sa.Table(
    "refunds",
    metadata,
    _case_id(),
    _seq(),
    sa.Column("at", Time, nullable=False),
    sa.Column("action", Name, nullable=False),  # refund, advance_payment (先行赔付)
    sa.Column("amount", Money, nullable=False),
    sa.Column("effect_key", Name, nullable=False),  # the outbox row of the payment
    sa.PrimaryKeyConstraint("case_id", "seq"),
)

decisions = sa.Table(
    "decisions",
    metadata,
    _case_id(),
    _seq(),
    sa.Column("at", Time, nullable=False),
    sa.Column("decision", Name, nullable=False),  # the table
    sa.Column("rule", Name, nullable=False),  # the rule id taken
    sa.PrimaryKeyConstraint("case_id", "seq"),
)

# The outbox (activities/outbox.py): its columns are those of the SQLite outbox it replaces, text
# times included, so that an existing outbox file upgrades in place.
effects = sa.Table(
    "effects",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("case_id", sa.Text, nullable=False),
    sa.Column("case_type", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("delivered_at", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("report_key", sa.Text),
    sa.Index("effects_case", "case_id"),
    sa.Index("effects_type", "type"),
)

# Updates refused by their validator (service/refusal_log.py): Temporal keeps no trace of them, by
# design, so the worker writes who tried what, when and why here. Never the data: its digest and size.
refusals = sa.Table(
    "refusals",
    metadata,
    _case_id(),
    sa.Column("update_id", sa.String(1000), nullable=False),  # the client's update id (Temporal caps ids at 1000)
    sa.Column("at", Time, nullable=False),  # the workflow's time when the validator refused
    sa.Column("update_name", Name, nullable=False),  # submit_event, open
    sa.Column("event", Name),  # the event asked for (`open:TYPE` for an open); NULL: not a name
    sa.Column("role", Name),  # the role the caller gave; NULL: not a name
    sa.Column("claimed_principal", Name),  # the token's `iss`, NOT verified; NULL: no token or not a name
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("data_sha256", sa.String(64)),  # hex SHA-256 of the data's canonical JSON (as a token's `dig`)
    sa.Column("data_size", sa.Integer),  # bytes of that canonical JSON
    sa.PrimaryKeyConstraint("case_id", "update_id", "at"),
    sa.Index("refusals_case", "case_id", "at"),
    sa.Index("refusals_at", "at"),
)

# The tables whose rows `facts.facts_of` produces, in the order they are written.
FACT_TABLES = (transitions, escalations, referrals, satisfaction, refunds, decisions)
