"""Effects: the outbox's dedupe, the webhook's signature and retry rules, settings, policy reload."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from temporalio.exceptions import ApplicationError

from activities.case_activities import OutboxSink, WebhookDeliverySink
from activities.config import Settings
from activities.outbox import Outbox
from activities.policy_source import PolicySource
from activities.webhook import KEY_HEADER, SIGNATURE_HEADER, WebhookSink, verify
from tests.conftest import POLICIES
from workflows.contract import ActionRequest


def _request(key: str = "R-1/1/refund") -> ActionRequest:
    return ActionRequest(
        case_id="R-1",
        case_type="return",
        workflow_id="case-R-1",
        policy_version="v",
        key=key,
        type="refund",
        params={"amount": 299.0},
    )


def test_outbox_writes_an_effect_once(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    sink = OutboxSink(box)
    assert sink.deliver(_request()) is True
    assert sink.deliver(_request()) is False  # a retry after a killed worker
    rows = box.list(case_id="R-1")
    assert len(rows) == 1 and rows[0]["attempts"] == 2 and rows[0]["params"] == {"amount": 299.0}


def test_outbox_dedupes_concurrent_writers(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    results: list[bool] = []

    def write() -> None:
        results.append(Outbox(path).record("K/1/refund", "K", "return", "refund", {}))

    threads = [threading.Thread(target=write) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16 and results.count(True) == 1
    assert Outbox(path).count("refund") == 1


class _Receiver(BaseHTTPRequestHandler):
    status = 200
    seen: ClassVar[list[tuple[bytes, dict[str, str]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append((body, dict(self.headers)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"seen": [], "status": 200})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/effects", handler
    server.shutdown()


def test_webhook_signs_and_delivers_once(tmp_path: Path, receiver: tuple[str, type[_Receiver]]) -> None:
    url, handler = receiver
    sink = WebhookDeliverySink(Outbox(tmp_path / "o.sqlite3"), WebhookSink([url], "s3cret"))
    assert sink.deliver(_request()) is True
    assert sink.deliver(_request()) is False  # delivered rows are not sent again
    assert len(handler.seen) == 1
    body, headers = handler.seen[0]
    assert verify(body, "s3cret", headers[SIGNATURE_HEADER])
    assert not verify(body, "other", headers[SIGNATURE_HEADER])
    assert headers[KEY_HEADER] == "R-1/1/refund"


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (422, False), (500, True), (503, True)])
def test_webhook_failures(receiver: tuple[str, type[_Receiver]], status: int, retryable: bool) -> None:
    url, handler = receiver
    handler.status = status
    with pytest.raises(ApplicationError) as info:
        WebhookSink([url], "s").deliver({"a": 1}, "k")
    assert info.value.non_retryable is (not retryable)


def test_webhook_unreachable_is_retried() -> None:
    with pytest.raises(ApplicationError) as info:
        WebhookSink(["http://127.0.0.1:9/none"], "s", timeout=2).deliver({}, "k")
    assert not info.value.non_retryable


def test_settings_from_env() -> None:
    s = Settings.from_env(
        {
            "TEMPORAL_ADDRESS": "temporal.example:7233",
            "TEMPORAL_NAMESPACE": "shop",
            "TEMPORAL_API_KEY": "k",
            "AFTERSALES_LOG_FORMAT": "json",
        }
    )
    assert (s.address, s.namespace, s.tls, s.log_format) == ("temporal.example:7233", "shop", True, "json")
    assert Settings.from_env({}).task_queue == "aftersales"
    with pytest.raises(ValueError, match="AFTERSALES_SINK"):
        Settings.from_env({"AFTERSALES_SINK": "carrier-pigeon"})
    with pytest.raises(ValueError, match="WEBHOOK_URLS"):
        Settings.from_env({"AFTERSALES_SINK": "webhook", "AFTERSALES_WEBHOOK_SECRET": "x"})


def test_policy_source_keeps_the_last_good_set(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder, ignore=shutil.ignore_patterns("tests"))
    source = PolicySource(folder, check_every=0)
    before = source.current().policies["return-default"].version
    returns = folder / "returns.yaml"
    good = returns.read_text(encoding="utf-8")
    returns.write_text(good.replace("goto: awaiting_shipment", "goto: awaiting_shipmnt", 1), encoding="utf-8")
    assert source.maybe_reload() is False
    assert source.current().policies["return-default"].version == before
    returns.write_text(good.replace("after: 48h  ", "after: 72h  "), encoding="utf-8")
    assert source.maybe_reload() is True
    assert source.current().policies["return-default"].version != before
