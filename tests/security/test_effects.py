"""What the effects carry for the worker's own reports, and the outbox written before they did."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from activities.case_activities import WebhookDeliverySink
from activities.outbox import Outbox
from aftersales_cli.simulate_cmds import describe_entry
from policy_engine.engine import typed_entry
from workflows.contract import ActionRequest


class _Capture:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def deliver(self, payload: dict[str, Any], key: str) -> None:
        self.sent.append(payload)


def _refund(key: str, reports: str | None = "refund_completed") -> ActionRequest:
    return ActionRequest(
        case_id="R-1",
        case_type="return",
        workflow_id="case-R-1",
        policy_version="v",
        key=key,
        type="refund",
        params={"amount": 10.0},
        reports=reports,
    )


def test_a_deferred_effect_carries_its_report_key_to_the_receiver(tmp_path: Path) -> None:
    box, capture = Outbox(tmp_path / "o.sqlite3"), _Capture()
    sink = WebhookDeliverySink(box, capture)  # type: ignore[arg-type]
    assert sink.deliver(_refund("R-1/1/refund"), "first-key") is True
    assert capture.sent[0]["report_key"] == "first-key" == box.report_key_of("R-1/1/refund")
    # A retry before the receiver accepted it sends the first attempt's key, not its own.
    box2 = Outbox(tmp_path / "o2.sqlite3")
    box2.record("R-1/2/refund", "R-1", "return", "refund", {"amount": 1}, report_key="kept")
    WebhookDeliverySink(box2, capture).deliver(_refund("R-1/2/refund"), "another")  # type: ignore[arg-type]
    assert capture.sent[-1]["report_key"] == "kept"
    # An effect whose result the worker reports itself carries none.
    sink.deliver(_refund("R-1/3/notify", reports=None))
    assert "report_key" not in capture.sent[-1] and box.report_key_of("R-1/3/notify") is None


def test_an_outbox_written_before_report_keys_gets_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE effects (key TEXT PRIMARY KEY, case_id TEXT NOT NULL, case_type TEXT NOT NULL, "
        "type TEXT NOT NULL, params TEXT NOT NULL, created_at TEXT NOT NULL, delivered_at TEXT, "
        "attempts INTEGER NOT NULL DEFAULT 1);"
        "INSERT INTO effects VALUES ('R-1/1/notify', 'R-1', 'return', 'notify', '{}', '2026-01-01', NULL, 1);"
    )
    db.close()
    box = Outbox(path)
    assert box.list()[0]["report_key"] is None
    assert box.record("R-1/2/refund", "R-1", "return", "refund", {}, report_key="k") is True
    assert box.report_key_of("R-1/2/refund") == "k"
    Outbox(path)  # a second process finds the column there


def test_the_timeline_shows_a_backdated_opening() -> None:
    entry = {
        "at": "2026-11-04T10:00:00+00:00",
        "kind": "open",
        "name": "return",
        "detail": {
            "policy": "return-default",
            "version": "abcdef1234567890",
            "backdated": {"seconds_before_server_time": 21 * 86400, "opened_at": "2026-11-04T10:00:00+00:00"},
        },
    }
    line = describe_entry(typed_entry(entry))
    assert (
        line
        == "return case on policy return-default (abcdef123456), backdated 21.0 days (opened_at 2026-11-04T10:00:00+00:00)"
    )


def test_the_timeline_shows_a_refused_undeclared_event_without_its_name_or_data() -> None:
    entry = {
        "at": "2026-11-04T10:00:00+00:00",
        "kind": "refused",
        "name": "",  # a name the policy does not declare is the caller's text: not recorded
        "detail": {
            "reason": "unknown event: 'return' cases declare no event of that name",
            "actor": {"role": "customer", "id": "C-1"},
            "data": {},
            "data_sha256": "0" * 64,
            "data_bytes": 912_000,
        },
    }
    line = describe_entry(typed_entry(entry))
    assert line == "an undeclared event refused: unknown event: 'return' cases declare no event of that name"


def test_the_timeline_says_how_many_entries_earlier_runs_hold() -> None:
    entry = {
        "at": "2026-11-04T10:00:00+00:00",
        "kind": "open",
        "name": "return",
        "detail": {
            "policy": "return-default",
            "version": "abcdef1234567890",
            "earlier_entries": {"entries": 9503, "runs": [{"run_id": "r-1", "entries": 9503}]},
        },
    }
    line = describe_entry(typed_entry(entry))
    assert line == (
        "return case on policy return-default (abcdef123456); 9503 earlier entries are in the histories of "
        "earlier runs (aftersales audit show)"
    )
