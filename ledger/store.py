"""The ledger's writer: `Ledger(url).record(opening, entries)` writes a batch of facts in one transaction.

Idempotent: every fact row has a natural key and is inserted with ON CONFLICT DO NOTHING, the case row
is upserted (its close arrives later), and a clock's row only moves forward (`last_seq`), so a retried
activity, or a worker killed mid-write and run again, writes nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ledger import migrate
from ledger.database import engine_for
from ledger.facts import Facts, Row, facts_of
from ledger.opening import CaseOpening
from ledger.schema import cases, metadata, refunds, refusals, sla_clocks
from policy_engine.engine import TimelineEntry


class Ledger:
    """One database (SQLite file or PostgreSQL), shared by threads: SQLAlchemy pools the connections."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine_for(url)

    def upgrade(self) -> None:
        """The schema at the newest migration (the worker's start, `aftersales ledger upgrade`)."""
        migrate.upgrade(self.engine)

    def record(
        self,
        opening: CaseOpening,
        entries: Sequence[TimelineEntry | Mapping[str, Any]],
        first_seq: int = 0,
    ) -> Facts:
        """Write the facts of `entries` (the case's audit trail from entry `first_seq` on); returns them."""
        with self.engine.begin() as db:
            facts = facts_of(opening, entries, first_seq, self._latest_clocks(db, opening.case_id))
            self._upsert_case(db, facts.case)
            for table, rows in facts.rows.items():
                self._insert_new(db, metadata.tables[table], rows)
            self._upsert_clocks(db, facts.clocks.values())
            if facts.rows.get("refunds"):
                total = sa.select(sa.func.coalesce(sa.func.sum(refunds.c.amount), 0)).where(
                    refunds.c.case_id == opening.case_id
                )
                db.execute(
                    cases.update()
                    .where(cases.c.case_id == opening.case_id)
                    .values(refund_total=total.scalar_subquery())
                )
        return facts

    def record_refusals(self, rows: Sequence[Row]) -> None:
        """Write refused updates (`refusals` rows) in one transaction; a row written before is skipped."""
        with self.engine.begin() as db:
            self._insert_new(db, refusals, list(rows))

    def refusals_of(self, case_id: str) -> list[Row]:
        """The case's refused updates, oldest first."""
        with self.engine.connect() as db:
            rows = db.execute(
                sa.select(refusals).where(refusals.c.case_id == case_id).order_by(refusals.c.at, refusals.c.update_id)
            )
            return [dict(row._mapping) for row in rows]

    def _insert(self, table: sa.Table) -> Any:
        dialect = sqlite if self.engine.dialect.name == "sqlite" else postgresql
        return dialect.insert(table)

    def _insert_new(self, db: sa.Connection, table: sa.Table, rows: list[Row]) -> None:
        if rows:
            db.execute(self._insert(table).on_conflict_do_nothing(), rows)

    def _upsert_case(self, db: sa.Connection, row: Row) -> None:
        # The opening's fields are written once; the close fills closed_at and final_state later.
        insert = self._insert(cases).values(row)
        closed = {key: insert.excluded[key] for key in ("closed_at", "final_state") if key in row}
        if closed:
            db.execute(insert.on_conflict_do_update(index_elements=[cases.c.case_id], set_=closed))
        else:
            db.execute(insert.on_conflict_do_nothing())

    def _upsert_clocks(self, db: sa.Connection, rows: Iterable[Row]) -> None:
        for row in rows:
            insert = self._insert(sla_clocks).values(row)
            later = {key: insert.excluded[key] for key in row if key not in ("case_id", "clock", "round")}
            db.execute(
                insert.on_conflict_do_update(
                    index_elements=[sla_clocks.c.case_id, sla_clocks.c.clock, sla_clocks.c.round],
                    set_=later,
                    # A batch folded from an older row (a retry racing a newer write) never moves a clock back.
                    where=sla_clocks.c.last_seq < insert.excluded.last_seq,
                )
            )

    def _latest_clocks(self, db: sa.Connection, case_id: str) -> dict[str, Row]:
        rows = db.execute(sa.select(sla_clocks).where(sla_clocks.c.case_id == case_id).order_by(sla_clocks.c.round))
        return {row.clock: dict(row._mapping) for row in rows}  # the last round of each clock wins

    def close(self) -> None:
        self.engine.dispose()
