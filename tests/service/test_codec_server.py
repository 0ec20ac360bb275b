"""The codec server over HTTP: Temporal's protocol, the web UI's origin only, bounded requests, JSON errors."""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from service.codec import KEY_ID_METADATA, EncryptionCodec
from service.codec_keys import add_key, load_key_ring
from service.codec_server import MAX_BODY_BYTES, CodecServer

UI = "http://localhost:8233"
PHONE = "13800138000"


@pytest.fixture
def codec(tmp_path: Path) -> EncryptionCodec:
    path = tmp_path / "codec-keys.json"
    add_key(path, dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    return EncryptionCodec(load_key_ring(path))


@pytest.fixture
def server(codec: EncryptionCodec) -> Iterator[CodecServer]:
    running = CodecServer(("127.0.0.1", 0), codec, [UI, "http://127.0.0.1:8233"])
    thread = threading.Thread(target=running.serve_forever, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.shutdown()
        running.server_close()
        thread.join()


def call(
    server: CodecServer, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        raw = response.read()
        return response.status, dict(response.getheaders()), json.loads(raw) if raw else None
    finally:
        connection.close()


def plain_payload() -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps({"phone": PHONE}).encode())


def body_of(*payloads: Payload) -> bytes:
    return json_format.MessageToJson(Payloads(payloads=list(payloads))).encode()


async def test_decode_answers_what_the_worker_encrypted_for_the_web_ui(
    server: CodecServer, codec: EncryptionCodec
) -> None:
    (sealed,) = await codec.encode([plain_payload()])
    status, headers, answer = call(server, "POST", "/default/decode", body_of(sealed), {"Origin": UI})
    assert status == 200 and headers["Access-Control-Allow-Origin"] == UI
    (decoded,) = answer["payloads"]
    assert json.loads(base64.b64decode(decoded["data"])) == {"phone": PHONE}
    assert base64.b64decode(decoded["metadata"]["encoding"]) == b"json/plain"


def test_encode_answers_ciphertext_under_the_current_key(server: CodecServer, codec: EncryptionCodec) -> None:
    status, _, answer = call(server, "POST", "/encode", body_of(plain_payload()))
    assert status == 200
    (sealed,) = answer["payloads"]
    assert base64.b64decode(sealed["metadata"][KEY_ID_METADATA]).decode() == codec.ring.current.id
    assert PHONE.encode() not in base64.b64decode(sealed["data"])


def test_the_web_ui_origin_passes_the_preflight_and_another_origin_is_refused(server: CodecServer) -> None:
    status, headers, _ = call(
        server, "OPTIONS", "/decode", headers={"Origin": UI, "Access-Control-Request-Method": "POST"}
    )
    assert (
        status == 204
        and headers["Access-Control-Allow-Origin"] == UI
        and "POST" in headers["Access-Control-Allow-Methods"]
    )
    for method in ("OPTIONS", "POST"):
        status, headers, answer = call(server, method, "/decode", body_of(), {"Origin": "https://evil.example"})
        assert status == 403 and "Access-Control-Allow-Origin" not in headers
        assert "this origin may not call the codec server; allowed: http://127.0.0.1:8233, " + UI in answer["error"]
        assert "evil.example" not in answer["error"]


async def test_a_payload_of_an_unknown_key_is_an_error_naming_the_key(server: CodecServer, tmp_path: Path) -> None:
    other_file = tmp_path / "other.json"
    add_key(other_file, dt.datetime(2026, 12, 2, tzinfo=dt.UTC))
    other = EncryptionCodec(load_key_ring(other_file))
    (foreign,) = await other.encode([plain_payload()])
    status, _, answer = call(server, "POST", "/decode", body_of(foreign))
    assert status == 422 and f"key '{other.ring.current.id}'" in answer["error"]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "reason"),
    [
        ("POST", "/decode", b"{not json", 400, "the body must be JSON"),
        ("POST", "/decode", b'{"payloads": 3}', 400, "the body must be JSON"),
        ("POST", "/payloads", b"{}", 404, "the endpoints are /encode and /decode"),
        ("GET", "/decode", None, 405, "use POST /encode or POST /decode"),
    ],
)
def test_a_bad_request_gets_a_json_reason(
    server: CodecServer, method: str, path: str, body: bytes | None, status: int, reason: str
) -> None:
    got, headers, answer = call(server, method, path, body)
    assert got == status and headers["Content-Type"] == "application/json" and reason in answer["error"]


def test_a_body_over_the_limit_is_refused_unread(server: CodecServer) -> None:
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=30)
    try:
        connection.putrequest("POST", "/decode")
        connection.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
        connection.endheaders()  # nothing of the body is sent: the answer comes from the length alone
        response = connection.getresponse()
        assert response.status == 413 and "the body is over 8 MB" in json.loads(response.read())["error"]
    finally:
        connection.close()
