"""The `refusals` table on SQLite and PostgreSQL: migration 0002 from a ledger at 0001, written once."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import command

from ledger import migrate
from ledger.facts import utc
from ledger.schema import transitions
from ledger.store import Ledger
from service.refusals import RefusalLog
from tests.refusals.conftest import AT, refusal


def test_a_ledger_at_0001_upgrades_to_the_refusals_table_keeping_its_rows(database_url: str) -> None:
    store = Ledger(database_url)
    with store.engine.begin() as db:
        command.upgrade(migrate.config(db), "0001")
        db.execute(
            transitions.insert().values(
                case_id="R-1", seq=0, at=AT, from_state=None, to_state="requested", via_kind="open", via="open"
            )
        )
    assert migrate.current(store.engine) == "0001"

    store.upgrade()

    assert migrate.current(store.engine) == migrate.head() == "0002"
    inspector = sa.inspect(store.engine)
    assert {index["name"] for index in inspector.get_indexes("refusals")} == {"refusals_case", "refusals_at"}
    with store.engine.connect() as db:
        assert db.execute(sa.select(sa.func.count()).select_from(transitions)).scalar() == 1
    store.close()


def test_refusals_are_written_once_and_read_back_per_case_oldest_first(ledger: Ledger) -> None:
    later = AT + dt.timedelta(minutes=5)
    batch = [
        refusal("u-2", at=later, reason="caller refused: wrong role"),
        refusal("u-1"),
        refusal("u-9", case_id="R-2"),
    ]

    ledger.record_refusals([r.row() for r in batch])
    ledger.record_refusals([r.row() for r in batch[:2]])  # the writer retried a batch the database had taken after all

    rows = ledger.refusals_of("R-1001")
    assert [(row["update_id"], utc(row["at"])) for row in rows] == [("u-1", AT), ("u-2", later)]
    assert rows[1]["reason"] == "caller refused: wrong role"
    assert rows[1]["claimed_principal"] == "merchant-portal" and rows[1]["data_size"] == 2
    assert [row["update_id"] for row in ledger.refusals_of("R-2")] == ["u-9"]
    assert ledger.refusals_of("R-3") == []


def test_the_writer_upgrades_an_empty_database_and_writes_what_the_buffer_holds_by_its_stop(
    database_url: str,
) -> None:
    log = RefusalLog(database_url, capacity=10)
    for n in range(4):
        log.buffer.offer(refusal(f"u-{n}"))

    log.writer.batch = 3  # two transactions
    log.start()
    log.stop()

    store = Ledger(database_url)
    assert [row["update_id"] for row in store.refusals_of("R-1001")] == ["u-0", "u-1", "u-2", "u-3"]
    assert log.writer.written == 4 and len(log.buffer) == 0
    store.close()
