"""Effects: the outbox's dedupe, the webhook's signature and retry rules, settings, policy reload, activities."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from pathlib import Path
from typing import Any, cast

import pytest
from structlog.testing import capture_logs
from temporalio.api.common.v1 import Payloads, WorkflowType
from temporalio.api.history.v1 import HistoryEvent, WorkflowExecutionStartedEventAttributes
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.testing import ActivityEnvironment

from activities.case_activities import CaseActivities, OutboxSink
from activities.outbox import Outbox
from activities.policy_source import PolicySource
from policy_engine.language import PolicyError, SelectionError
from workflows.contract import ActionRequest, CaseStart, ResolveRequest
from workflows.trust import report_digest

# A tiny policy set of our own, so that edits to policies/ by others never break these tests.
CALENDAR = """\
calendar: test-cal
timezone: UTC
weekend: [saturday, sunday]
business_hours: {start: "09:00", end: "18:00"}
holidays: []
workdays: []
years: [2026, 2027]
"""

POLICY = """\
policies:
  - policy: gift-default
    title: A tiny policy for the activity tests
    case_type: gift
    calendar: test-cal
    locales: [en]
    data:
      amount: {type: number, min: 0}
    events:
      approve:
        roles: [merchant]
    open:
      goto: waiting
    states:
      waiting:
        on:
          approve: done
        timers:
          expire:
            after: 48h
            goto: done
      done:
        terminal: true
"""

OPENED = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    (folder / "calendars").mkdir(parents=True)
    (folder / "calendars" / "test-cal.yaml").write_text(CALENDAR, encoding="utf-8")
    (folder / "gift.yaml").write_text(POLICY, encoding="utf-8")
    return folder


def _request(key: str = "R-1/1/refund", **changes: Any) -> ActionRequest:
    fields: dict[str, Any] = {
        "case_id": "R-1",
        "case_type": "return",
        "workflow_id": "case-R-1",
        "policy_version": "v",
        "key": key,
        "type": "refund",
        "params": {"amount": 299.0},
    }
    fields.update(changes)
    return ActionRequest(**fields)


# --- outbox ---------------------------------------------------------------------------------------


def test_outbox_writes_an_effect_once(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "sub" / "o.sqlite3")  # the parent folder is created
    sink = OutboxSink(box)
    assert sink.deliver(_request()) is True
    assert sink.deliver(_request()) is False  # a retry after a killed worker
    rows = box.list(case_id="R-1")
    assert len(rows) == 1 and rows[0]["attempts"] == 2 and rows[0]["params"] == {"amount": 299.0}
    assert rows[0]["delivered_at"] is None
    box.mark_delivered("R-1/1/refund")
    assert box.list()[0]["delivered_at"] is not None


def test_outbox_filters_and_counts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    for i in range(3):
        box.record(f"A/{i}/notify", "A", "return", "notify", {"i": i})
    box.record("B/1/refund", "B", "return", "refund", {})
    assert box.count() == 4 and box.count("notify") == 3
    assert [r["key"] for r in box.list(case_id="A", limit=2)] == ["A/0/notify", "A/1/notify"]
    assert [r["key"] for r in box.list(type="refund")] == ["B/1/refund"]


def test_outbox_dedupes_concurrent_writers(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    results: list[bool] = []
    start = threading.Barrier(16)

    def write() -> None:
        box = Outbox(path)
        start.wait()
        results.append(box.record("K/1/refund", "K", "return", "refund", {}))

    threads = [threading.Thread(target=write) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16 and results.count(True) == 1
    assert Outbox(path).count("refund") == 1
    assert Outbox(path).list()[0]["attempts"] == 16


# --- policy source --------------------------------------------------------------------------------


def test_policy_source_keeps_the_last_good_set(policy_dir: Path) -> None:
    source = PolicySource(policy_dir, check_every=0)
    before = source.current().policies["gift-default"].version
    policy = policy_dir / "gift.yaml"
    policy.write_text(POLICY.replace("goto: done\n      done:", "goto: dne\n      done:"), encoding="utf-8")
    with capture_logs() as logs:
        assert source.maybe_reload() is False
        assert source.maybe_reload() is False  # the same broken files are not reported twice
    assert source.current().policies["gift-default"].version == before
    problems = [e["event"] for e in logs if e["log_level"] == "error"]
    assert any(p.endswith("gift.yaml:21:19: unknown state 'dne'; did you mean 'done'?") for p in problems), problems
    assert len([p for p in problems if "unknown state" in p]) == 1
    # The last good set still serves cases.
    assert source.resolve("gift", {"amount": 1}, OPENED).version == before
    policy.write_text(POLICY.replace("after: 48h", "after: 72h"), encoding="utf-8")
    assert source.maybe_reload() is True
    assert source.current().policies["gift-default"].version != before


def test_policy_source_checks_at_most_once_a_second(policy_dir: Path) -> None:
    source = PolicySource(policy_dir)
    (policy_dir / "gift.yaml").write_text(POLICY.replace("after: 48h", "after: 72h"), encoding="utf-8")
    assert source.maybe_reload() is False  # checked less than a second ago


def test_an_invalid_set_refuses_to_start(policy_dir: Path) -> None:
    (policy_dir / "gift.yaml").write_text(POLICY.replace("goto: waiting", "goto: nowhere"), encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        PolicySource(policy_dir)
    assert info.value.problems


def test_no_fitting_policy_is_a_selection_error(policy_dir: Path) -> None:
    source = PolicySource(policy_dir)
    with pytest.raises(SelectionError, match="unknown case type"):
        source.resolve("boat", {}, OPENED)
    with pytest.raises(SelectionError):
        source.resolve("gift", {"amount": -5}, OPENED)


# --- activities -----------------------------------------------------------------------------------


class _FakeClient:
    """Stands in for the Temporal client: records starts, answers a second start like the server, and
    shows a started workflow's first history event (what open_linked_case checks before attaching)."""

    data_converter = pydantic_data_converter

    def __init__(self) -> None:
        self.started: list[tuple[str, CaseStart]] = []
        self.first_events: dict[str, HistoryEvent] = {}

    async def start_workflow(self, workflow: str, arg: CaseStart, *, id: str, **kwargs: Any) -> Any:
        if any(wid == id for wid, _ in self.started):
            raise WorkflowAlreadyStartedError(id, workflow)
        self.started.append((id, arg))
        await self.put_first_event(id, workflow, kwargs["task_queue"], arg, dt.datetime.now(dt.UTC))
        return type("Handle", (), {"result_run_id": "run-1"})()

    async def put_first_event(self, wid: str, workflow: str, queue: str, arg: CaseStart, at: dt.datetime) -> None:
        payloads = await self.data_converter.encode([arg])
        event = HistoryEvent(
            event_id=1,
            workflow_execution_started_event_attributes=WorkflowExecutionStartedEventAttributes(
                workflow_type=WorkflowType(name=workflow),
                task_queue=TaskQueue(name=queue),
                input=Payloads(payloads=payloads),
            ),
        )
        event.event_time.FromDatetime(at)
        self.first_events[wid] = event

    def get_workflow_handle(self, wid: str, run_id: str | None = None) -> Any:
        event = self.first_events[wid]

        class Handle:
            async def describe(self) -> Any:
                info = type("Info", (), {"first_run_id": "run-1"})()
                return type("D", (), {"raw_description": type("R", (), {"workflow_execution_info": info})()})()

            async def fetch_history_events(self) -> Any:
                yield event

        return Handle()


def _env(workflow_id: str = "case-R-1", scheduled: dt.datetime | None = None) -> ActivityEnvironment:
    """An activity environment as the case `workflow_id` schedules its activities."""
    env = ActivityEnvironment()
    when = scheduled or dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    env.info = dataclasses.replace(env.info, workflow_id=workflow_id, scheduled_time=when)
    return env


def _activities(policy_dir: Path, box: Outbox, client: _FakeClient | None = None) -> CaseActivities:
    fake = client or _FakeClient()
    return CaseActivities(
        PolicySource(policy_dir),
        OutboxSink(box),
        lambda: cast(Client, fake),
        deferred_reports=lambda r: r.reports == "refund_completed",
    )


def test_resolve_policy_activity(policy_dir: Path, tmp_path: Path) -> None:
    acts = _activities(policy_dir, Outbox(tmp_path / "o.sqlite3"))
    env = ActivityEnvironment()
    payload = env.run(acts.resolve_policy, ResolveRequest(case_type="gift", data={"amount": 3}, opened_at=OPENED))
    resolved = PolicySource(policy_dir).current().policies["gift-default"]
    assert (payload.policy_id, payload.policy_version) == ("gift-default", resolved.version)
    assert payload.policy_content == resolved.content()
    with pytest.raises(ApplicationError) as info:
        env.run(acts.resolve_policy, ResolveRequest(case_type="boat", data={}, opened_at=OPENED))
    assert info.value.type == "CaseRefused" and info.value.non_retryable and "boat" in info.value.message


def test_run_action_activity(policy_dir: Path, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    acts = _activities(policy_dir, box)
    env = _env()
    first = env.run(acts.run_action, _request())
    again = env.run(acts.run_action, _request())
    assert (first.key, first.delivered, first.completed) == ("R-1/1/refund", True, True)
    assert again.delivered is False and box.count() == 1
    deferred = env.run(acts.run_action, _request("R-1/2/refund", reports="refund_completed"))
    assert deferred.delivered is True and deferred.completed is False
    # Its result comes back from outside, with the one-time key written with the effect; the case
    # keeps only its digest, and a retry carries the first attempt's key.
    report_key = box.report_key_of("R-1/2/refund")
    assert report_key and deferred.report_digest == report_digest(report_key)
    assert env.run(acts.run_action, _request("R-1/2/refund", reports="refund_completed")) == deferred.model_copy(
        update={"delivered": False, "detail": "already delivered"}
    )
    assert first.report_digest is None and box.report_key_of("R-1/1/refund") is None


async def test_open_linked_case_activity_is_idempotent(policy_dir: Path, tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    client = _FakeClient()
    acts = _activities(policy_dir, box, client)
    request = _request(
        "R-1/3/open_case",
        type="open_case",
        params={"case_type": "gift", "case_id": "R-1-gift-3", "data": {"amount": 1}, "linked_to": "R-1"},
    )
    env = _env()
    first = await env.run(acts.open_linked_case, request)
    again = await env.run(acts.open_linked_case, request)  # a retry: the case is already open
    assert (first.delivered, again.delivered) == (True, False)
    assert first.detail == "case-R-1-gift-3"
    assert len(client.started) == 1
    wid, start = client.started[0]
    assert wid == "case-R-1-gift-3" and start.open.links == {"linked_to": "R-1", "opened_by": "R-1/3/open_case"}
    assert start.open.case_type == "gift" and start.open.data == {"amount": 1}
    assert box.count("open_case") == 1
    with pytest.raises(ApplicationError) as info:
        await env.run(acts.open_linked_case, _request("R-1/4/open_case", type="open_case", params={}))
    assert info.value.non_retryable
