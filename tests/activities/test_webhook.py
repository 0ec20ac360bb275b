"""The webhook sink as a receiver sees it: what is signed, what `verify_request` refuses, where the worker may POST."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from temporalio.exceptions import ApplicationError

from activities.case_activities import WebhookDeliverySink
from activities.outbox import Outbox
from activities.webhook import (
    KEY_HEADER,
    MIN_SECRET_LENGTH,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TOLERANCE_SECONDS,
    WebhookSink,
    check_url,
    internal,
    sign,
    signed_content,
    verify,
    verify_request,
)
from workflows.contract import ActionRequest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "a-webhook-secret-for-the-tests-0123456789"
LOCAL = {"allow_http": True, "allow_internal": True}  # the receivers below are local test servers


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


class _Receiver(BaseHTTPRequestHandler):
    status = 200
    location = ""
    seen: ClassVar[list[tuple[bytes, dict[str, str]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append((body, dict(self.headers)))
        self.send_response(type(self).status)
        if type(self).location:
            self.send_header("Location", type(self).location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"seen": [], "status": 200, "location": ""})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/effects", handler
    server.shutdown()
    server.server_close()


# --- what is signed -------------------------------------------------------------------------------


def test_a_delivery_is_signed_over_time_key_and_body(tmp_path: Path, receiver: tuple[str, type[_Receiver]]) -> None:
    url, handler = receiver
    box = Outbox(tmp_path / "o.sqlite3")
    sink = WebhookDeliverySink(box, WebhookSink([url], SECRET, **LOCAL))
    before = int(time.time())
    assert sink.deliver(_request()) is True
    assert sink.deliver(_request()) is False  # delivered rows are not sent again
    assert len(handler.seen) == 1
    body, headers = handler.seen[0]
    assert verify_request(headers, body, SECRET) is None
    assert headers[KEY_HEADER] == "R-1/1/refund"
    assert before <= int(headers[TIMESTAMP_HEADER]) <= int(time.time())
    expected = sign(body, SECRET, timestamp=headers[TIMESTAMP_HEADER], key="R-1/1/refund")
    assert headers[SIGNATURE_HEADER] == expected and expected.startswith("sha256=") and len(expected) == 7 + 64
    assert headers["Content-Type"] == "application/json"
    assert body.startswith(b'{"case_id":"R-1"')  # compact, sorted keys
    assert box.list()[0]["delivered_at"] is not None


def test_the_signed_content_is_time_dot_key_dot_body() -> None:
    # Receivers in other languages implement this; it is the contract, so it is spelled out.
    assert signed_content("1700000000", "R-1/1/refund", b'{"a":1}') == b'1700000000.R-1/1/refund.{"a":1}'
    import hashlib
    import hmac

    mac = hmac.new(SECRET.encode(), b'1700000000.R-1/1/refund.{"a":1}', hashlib.sha256).hexdigest()
    assert sign(b'{"a":1}', SECRET, timestamp="1700000000", key="R-1/1/refund") == f"sha256={mac}"


def _signed(body: bytes = b'{"a":1}', key: str = "R-1/1/refund", at: int = 1_700_000_000) -> dict[str, str]:
    return {
        SIGNATURE_HEADER: sign(body, SECRET, timestamp=str(at), key=key),
        TIMESTAMP_HEADER: str(at),
        KEY_HEADER: key,
    }


NOW = 1_700_000_000.0


def test_a_replay_under_a_fresh_key_or_time_is_refused() -> None:
    headers = _signed()
    assert verify_request(headers, b'{"a":1}', SECRET, now=NOW) is None
    fresh_key = {**headers, KEY_HEADER: "R-1/1/refund-again"}
    assert verify_request(fresh_key, b'{"a":1}', SECRET, now=NOW) == (
        "the signature does not match the body, timestamp and key"
    )
    fresh_time = {**headers, TIMESTAMP_HEADER: str(int(NOW) + 60)}
    assert verify_request(fresh_time, b'{"a":1}', SECRET, now=NOW) is not None
    assert verify_request(headers, b'{"a":2}', SECRET, now=NOW) is not None  # another body
    other_secret = "another-secret-of-the-right-length-000"
    assert verify_request(headers, b'{"a":1}', other_secret, now=NOW) is not None


def test_a_stale_or_future_timestamp_is_refused_at_the_tolerance_edge() -> None:
    headers = _signed()
    assert verify_request(headers, b'{"a":1}', SECRET, now=NOW + TOLERANCE_SECONDS) is None
    assert verify_request(headers, b'{"a":1}', SECRET, now=NOW - TOLERANCE_SECONDS) is None
    late = verify_request(headers, b'{"a":1}', SECRET, now=NOW + TOLERANCE_SECONDS + 1)
    assert late == f"{TIMESTAMP_HEADER} is more than {TOLERANCE_SECONDS} s from now (stale or replayed)"
    assert verify_request(headers, b'{"a":1}', SECRET, now=NOW - TOLERANCE_SECONDS - 1) == late


@pytest.mark.parametrize("stamp", ["", "17e8", "-1700000000", "1700000000.5", "１７００", "9" * 40])
def test_a_timestamp_that_is_not_seconds_is_refused(stamp: str) -> None:
    headers = {**_signed(), TIMESTAMP_HEADER: stamp}
    assert verify_request(headers, b'{"a":1}', SECRET, now=NOW) is not None


def test_missing_headers_are_named_and_values_never_echoed() -> None:
    assert verify_request({}, b"", SECRET, now=NOW) == (f"missing {SIGNATURE_HEADER}, {TIMESTAMP_HEADER}, {KEY_HEADER}")
    lower = {name.lower(): value for name, value in _signed().items()}  # header names in any case
    assert verify_request(lower, b'{"a":1}', SECRET, now=NOW) is None
    forged = {**_signed(), SIGNATURE_HEADER: "sha256=<script>alert(1)</script>"}
    reason = verify_request(forged, b'{"a":1}', SECRET, now=NOW)
    assert reason is not None and "script" not in reason


@pytest.mark.parametrize("secret", ["", "s3cret", "x" * (MIN_SECRET_LENGTH - 1)])
def test_a_short_or_empty_secret_signs_and_verifies_nothing(secret: str) -> None:
    with pytest.raises(ValueError, match=f"at least {MIN_SECRET_LENGTH} characters"):
        sign(b"{}", secret, timestamp="1", key="k")
    with pytest.raises(ValueError, match=f"at least {MIN_SECRET_LENGTH} characters"):
        verify(b"{}", secret, signature="sha256=00", timestamp="1", key="k")
    with pytest.raises(ValueError, match=f"at least {MIN_SECRET_LENGTH} characters"):
        WebhookSink(["https://hooks.example/effects"], secret)
    assert WebhookSink(["https://hooks.example/effects"], "x" * MIN_SECRET_LENGTH).secret  # the edge passes


# --- where the worker may POST --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "needs"),
    [
        ("http://hooks.example/effects", "AFTERSALES_WEBHOOK_ALLOW_HTTP"),
        ("https://127.0.0.1/effects", "AFTERSALES_WEBHOOK_ALLOW_INTERNAL"),
        ("https://localhost:8443/effects", "AFTERSALES_WEBHOOK_ALLOW_INTERNAL"),
        ("https://192.168.1.10/effects", "AFTERSALES_WEBHOOK_ALLOW_INTERNAL"),
        ("https://172.16.0.1/effects", "AFTERSALES_WEBHOOK_ALLOW_INTERNAL"),
        ("https://169.254.169.254/latest/meta-data", "AFTERSALES_WEBHOOK_ALLOW_INTERNAL"),
        ("https://[::1]/effects", "AFTERSALES_WEBHOOK_ALLOW_INTERNAL"),
        ("https://[::ffff:127.0.0.1]/effects", "AFTERSALES_WEBHOOK_ALLOW_INTERNAL"),
        ("https://0.0.0.0/effects", "AFTERSALES_WEBHOOK_ALLOW_INTERNAL"),
        ("ftp://hooks.example/effects", "http(s) URL"),
        ("https:///effects", "http(s) URL"),
    ],
)
def test_http_and_internal_addresses_need_an_opt_in(url: str, needs: str) -> None:
    with pytest.raises(ValueError, match=needs.replace("(", r"\(").replace(")", r"\)")):
        check_url(url)
    if needs.startswith("AFTERSALES"):
        check_url(url, allow_http=True, allow_internal=True)  # allowed with both opt-ins


def test_public_https_addresses_pass() -> None:
    check_url("https://hooks.example/effects")
    check_url("https://93.184.215.14:8443/effects")  # a public address
    assert internal("10.0.0.1") and internal("fe80::1%eth0") and not internal("8.8.8.8")
    assert not internal("hooks.example")  # a name is checked on what it resolves to


def test_a_name_that_resolves_to_an_internal_address_is_not_sent() -> None:
    sink = WebhookSink(["https://hooks.example/effects"], SECRET, resolve=lambda host, port: ["10.0.0.8"])
    with pytest.raises(ApplicationError) as info:
        sink.deliver({"a": 1}, "R-1/1/refund")
    assert info.value.non_retryable and info.value.type == "WebhookRejected"
    assert "resolves to an internal address" in info.value.message


def test_a_name_that_does_not_resolve_is_retried() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise OSError("name not known")

    with pytest.raises(ApplicationError) as info:
        WebhookSink(["https://hooks.example/effects"], SECRET, resolve=fail).deliver({}, "k")
    assert not info.value.non_retryable and info.value.type == "WebhookUnavailable"


def test_a_redirect_is_not_followed(receiver: tuple[str, type[_Receiver]]) -> None:
    url, handler = receiver
    handler.status = 307
    handler.location = "http://169.254.169.254/latest/meta-data"
    with pytest.raises(ApplicationError) as info:
        WebhookSink([url], SECRET, **LOCAL).deliver({"a": 1}, "k")
    assert info.value.non_retryable and info.value.type == "WebhookRejected"
    assert len(handler.seen) == 1  # one POST, to the configured URL only


# --- delivery rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retryable"), [(400, False), (404, False), (422, False), (429, True), (500, True), (503, True)]
)
def test_webhook_failures(receiver: tuple[str, type[_Receiver]], status: int, retryable: bool) -> None:
    url, handler = receiver
    handler.status = status
    with pytest.raises(ApplicationError) as info:
        WebhookSink([url], SECRET, **LOCAL).deliver({"a": 1}, "k")
    assert info.value.non_retryable is (not retryable)
    assert info.value.type == ("WebhookUnavailable" if retryable else "WebhookRejected")


def test_a_failed_post_is_sent_again_on_retry_signed_anew(
    tmp_path: Path, receiver: tuple[str, type[_Receiver]]
) -> None:
    url, handler = receiver
    box = Outbox(tmp_path / "o.sqlite3")
    sink = WebhookDeliverySink(box, WebhookSink([url], SECRET, **LOCAL))
    handler.status = 503
    with pytest.raises(ApplicationError):
        sink.deliver(_request())
    assert box.list()[0]["delivered_at"] is None
    handler.status = 200
    assert sink.deliver(_request()) is True  # the retry delivers, under the same key
    assert [h[KEY_HEADER] for _, h in handler.seen] == ["R-1/1/refund", "R-1/1/refund"]
    assert all(verify_request(h, body, SECRET) is None for body, h in handler.seen)
    assert box.count() == 1


def test_webhook_unreachable_is_retried() -> None:
    with pytest.raises(ApplicationError) as info:
        WebhookSink(["http://127.0.0.1:9/none"], SECRET, timeout=2, **LOCAL).deliver({}, "k")
    assert not info.value.non_retryable


# --- the receiver example in examples/ ------------------------------------------------------------


def test_the_example_receiver_acts_once_and_refuses_a_replay(tmp_path: Path) -> None:
    import importlib.util
    import urllib.error
    import urllib.request
    from http.server import ThreadingHTTPServer

    spec = importlib.util.spec_from_file_location("webhook_receiver", ROOT / "examples" / "webhook_receiver.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    effects = example.Effects(str(tmp_path / "effects.sqlite3"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), example.handler(SECRET, effects))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/"
    try:
        sink = WebhookSink([url], SECRET, **LOCAL)
        sink.deliver({"type": "refund", "amount": "299.00"}, "R-1/1/refund")
        sink.deliver({"type": "refund", "amount": "299.00"}, "R-1/1/refund")  # a retry: answered, not acted on
        assert effects.db.execute("SELECT key, type FROM effects").fetchall() == [("R-1/1/refund", "refund")]
        # A captured request re-sent under a fresh key, to get past the dedupe: refused.
        body = b'{"amount":"299.00","type":"refund"}'
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, SECRET, timestamp=stamp, key="R-1/1/refund"),
            TIMESTAMP_HEADER: stamp,
            KEY_HEADER: "R-1/1/refund-replayed",
        }
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers, method="POST"), timeout=5)
        assert refused.value.code == 401
        assert refused.value.read() == b"the signature does not match the body, timestamp and key"
        refused.value.close()
        assert effects.db.execute("SELECT count(*) FROM effects").fetchone() == (1,)
    finally:
        server.shutdown()
        server.server_close()
