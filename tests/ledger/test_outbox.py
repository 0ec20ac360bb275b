"""The outbox in the ledger's database, on SQLite and PostgreSQL: same API and semantics as the SQLite file."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import sqlalchemy as sa

from activities.outbox import Outbox


def test_an_effect_is_written_once_and_its_retries_counted(database_url: str) -> None:
    box = Outbox(database_url)
    assert box.record("C-1/1/refund", "C-1", "return", "refund", {"amount": 99.5}, report_key="r-1") is True
    assert box.record("C-1/1/refund", "C-1", "return", "refund", {"amount": 99.5}, report_key="r-2") is False
    [row] = box.list()
    assert (row["attempts"], row["params"], row["report_key"]) == (2, {"amount": 99.5}, "r-1")
    assert box.report_key_of("C-1/1/refund") == "r-1"  # the first attempt's key stays


def test_delivery_is_stamped_once(database_url: str) -> None:
    box = Outbox(database_url)
    box.record("C-1/2/notify", "C-1", "return", "notify", {"to": ["customer"]})
    assert not box.is_delivered("C-1/2/notify")
    box.mark_delivered("C-1/2/notify")
    first = box.list()[0]["delivered_at"]
    box.mark_delivered("C-1/2/notify")
    assert box.is_delivered("C-1/2/notify") and box.list()[0]["delivered_at"] == first


def test_listing_filters_by_case_and_type_and_keeps_the_newest(database_url: str) -> None:
    box = Outbox(database_url)
    for n in range(1, 6):
        box.record(f"C-{n % 2}/{n}/notify", f"C-{n % 2}", "return", "notify" if n < 5 else "refund", {"n": n})
    assert [r["params"]["n"] for r in box.list(case_id="C-1")] == [1, 3, 5]
    assert [r["params"]["n"] for r in box.list(type="refund")] == [5]
    assert [r["params"]["n"] for r in box.list(limit=2, newest=True)] == [4, 5]
    assert (box.count(), box.count("notify")) == (5, 4)


def test_threads_retrying_one_effect_write_one_row(database_url: str) -> None:
    box = Outbox(database_url)
    written: list[bool] = []
    threads = [
        threading.Thread(target=lambda: written.append(box.record("C-9/1/refund", "C-9", "return", "refund", {})))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(written) == [False] * 7 + [True]
    assert box.list()[0]["attempts"] == 8


def test_an_outbox_file_from_before_the_ledger_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with sqlite3.connect(path) as old:  # the schema the first SQLite outbox wrote, without report_key
        old.execute(
            "CREATE TABLE effects (key TEXT PRIMARY KEY, case_id TEXT NOT NULL, case_type TEXT NOT NULL, "
            "type TEXT NOT NULL, params TEXT NOT NULL, created_at TEXT NOT NULL, delivered_at TEXT, "
            "attempts INTEGER NOT NULL DEFAULT 1)"
        )
        old.execute("INSERT INTO effects VALUES ('R-1/1/notify','R-1','return','notify','{}','2026-01-01',NULL,1)")
    old.close()
    box = Outbox(path)
    assert box.record("R-1/1/notify", "R-1", "return", "notify", {}) is False  # the old row is the same effect
    assert box.record("R-1/2/refund", "R-1", "return", "refund", {}, report_key="k") is True
    assert [(r["key"], r["report_key"]) for r in box.list()] == [("R-1/1/notify", None), ("R-1/2/refund", "k")]
    assert "cases" in sa.inspect(box.engine).get_table_names()  # the ledger's tables beside it
