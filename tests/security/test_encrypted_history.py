"""Case data is ciphertext in Temporal's history, on a real dev server, and readable only with the keys.

A complaint carries a phone number and an address in its description. Read raw from the server (a
client without the codec, `temporal workflow show`), neither appears; the command line and a client
with the keys read the case; `temporal workflow show --codec-endpoint` reads it through the codec
server; after `aftersales codec new-key` a case begun under the old key is still read and goes on.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from aftersales_cli.devserver import temporal_binary
from service.codec import KEY_ID_METADATA, encrypting_converter
from service.codec_keys import add_key, load_key_ring
from service.codec_server import CodecServer
from tests.cli import ROOT
from tests.conftest import POLICIES
from tests.e2e.harness import Deferred, in_memory_dev_server, running_worker
from tests.principal import CODEC_KEYS, DATA_CONVERTER, process_env, signed_client
from workflows.contract import workflow_id_for

PHONE = "13800138000"
ADDRESS = "北京市朝阳区建国路88号"
AFTERSALES = str(Path(sys.executable).parent / "aftersales")


def complaint(case_id: str) -> dict[str, Any]:
    return {
        "channel": "app",
        "customer": {"id": "C-7", "tier": "regular", "locale": "zh-CN"},
        "merchant_id": "M-9",
        "category": "delivery",
        "description": f"the parcel never came; call me at {PHONE}, I live at {ADDRESS} ({case_id})",
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with in_memory_dev_server(tmp_path_factory.mktemp("encrypted-history")) as address:
        yield address


@pytest.fixture(scope="module")
def task_queue() -> str:
    return f"encrypted-{uuid.uuid4().hex[:8]}"


@pytest_asyncio.fixture(scope="module")
async def client(server: str, task_queue: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    """A client and a worker that encrypt with the session's key, as `aftersales worker` does."""
    connected = await Client.connect(server, data_converter=DATA_CONVERTER)
    outbox = tmp_path_factory.mktemp("encrypted-outbox") / "outbox.sqlite3"
    async with running_worker(connected, POLICIES, outbox, task_queue, Deferred()):
        yield connected


@pytest.fixture(scope="module")
def codec_endpoint() -> Iterator[str]:
    codec_server = CodecServer(("127.0.0.1", 0), DATA_CONVERTER.payload_codec, ["http://localhost:8233"])  # type: ignore[arg-type]
    thread = threading.Thread(target=codec_server.serve_forever, daemon=True)
    thread.start()
    try:
        yield codec_server.url
    finally:
        codec_server.shutdown()
        codec_server.server_close()
        thread.join()


async def raw_history(server: str, case_id: str) -> bytes:
    """Every event of the case's history as the server holds it, read without the codec."""
    plain = await Client.connect(server, data_converter=pydantic_data_converter)
    history = await plain.get_workflow_handle(workflow_id_for(case_id)).fetch_history()
    return b"".join(event.SerializeToString() for event in history.events)


def temporal_show(server: str, case_id: str, *codec: str) -> str:
    args = ["workflow", "show", "--address", server, "--workflow-id", workflow_id_for(case_id), "--output", "json"]
    shown = subprocess.run(
        [temporal_binary(), *args, *codec],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


async def test_the_history_holds_no_phone_or_address_and_the_keys_read_them(
    server: str, client: Client, task_queue: str
) -> None:
    case_id = f"ENC-{uuid.uuid4().hex[:6]}"
    status = await signed_client(client, task_queue).open("complaint", case_id, complaint(case_id))
    raw = await raw_history(server, case_id)
    assert PHONE.encode() not in raw and ADDRESS.encode() not in raw
    assert load_key_ring(CODEC_KEYS).current.id.encode() in raw  # each payload names its key
    # With the keys, the start input holds them: the search above would have found them in clear.
    started = (await client.get_workflow_handle(workflow_id_for(case_id)).fetch_history()).events[0]
    decoded = await DATA_CONVERTER.payload_codec.decode(  # type: ignore[union-attr]
        started.workflow_execution_started_event_attributes.input.payloads
    )
    assert PHONE.encode() in decoded[0].data and ADDRESS.encode() in decoded[0].data
    assert status.state == "received"


async def test_the_command_line_reads_the_case_and_temporal_show_needs_the_codec_server(
    server: str, client: Client, task_queue: str, codec_endpoint: str, tmp_path: Path
) -> None:
    case_id = f"ENC-CLI-{uuid.uuid4().hex[:6]}"
    opened = await signed_client(client, task_queue).open("complaint", case_id, complaint(case_id))
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": server,
        "AFTERSALES_TASK_QUEUE": task_queue,
        "AFTERSALES_HOME": str(ROOT),
        "AFTERSALES_LOG_FORMAT": "json",
        **process_env(tmp_path),
    }
    for command in ("status", "timeline"):
        # The worker answers on this test's event loop: the command runs without blocking it.
        code, out, err = await _run(AFTERSALES, "case", command, case_id, env=env)
        assert code == 0 and case_id in out, (out, err)
        assert "received" in out  # the state (status), the transition into it (timeline)
    assert opened.state == "received"

    raw = payload_texts(temporal_show(server, case_id))
    assert raw and PHONE not in raw and ADDRESS not in raw
    decoded = payload_texts(temporal_show(server, case_id, "--codec-endpoint", codec_endpoint))
    assert PHONE in decoded and ADDRESS in decoded


def payload_texts(shown: str) -> str:
    """The data of every payload in `temporal workflow show --output json` (protobuf JSON: base64)."""
    texts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("metadata"), dict) and isinstance(node.get("data"), str):
                texts.append(base64.b64decode(node["data"]).decode("utf-8", errors="replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(shown))
    return "\n".join(texts)


async def _run(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        *args, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_after_a_new_key_a_case_begun_under_the_old_one_is_read_and_goes_on(
    server: str, client: Client, tmp_path: Path
) -> None:
    keys = tmp_path / "codec-keys.json"
    add_key(keys, dt.datetime.now(dt.UTC))
    old_ring = load_key_ring(keys)
    queue = f"rotation-{uuid.uuid4().hex[:8]}"
    case_id = f"ENC-ROT-{uuid.uuid4().hex[:6]}"
    before = await Client.connect(server, data_converter=encrypting_converter(old_ring))
    async with running_worker(before, POLICIES, tmp_path / "outbox.sqlite3", queue, Deferred()):
        await signed_client(before, queue).open("complaint", case_id, complaint(case_id))

    assert _new_key(keys).returncode == 0  # `aftersales codec new-key`: the new key first, the old one kept
    new_ring = load_key_ring(keys)
    assert new_ring.current.id != old_ring.current.id and new_ring.get(old_ring.current.id) is not None
    after = await Client.connect(server, data_converter=encrypting_converter(new_ring))
    async with running_worker(after, POLICIES, tmp_path / "outbox.sqlite3", queue, Deferred()):
        cases = signed_client(after, queue)
        status = await cases.event(case_id, "acknowledge", "agent", "A-7")
        assert status.state == "investigating" and (await cases.status(case_id)).state == "investigating"
    history = await after.get_workflow_handle(workflow_id_for(case_id)).fetch_history()
    used = {
        p.metadata[KEY_ID_METADATA].decode()
        for e in history.events
        for p in _payloads(e)
        if KEY_ID_METADATA in p.metadata
    }
    assert used == {old_ring.current.id, new_ring.current.id}


def _new_key(keys: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AFTERSALES, "codec", "new-key", "--keys", str(keys)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


def _payloads(event: Any) -> list[Any]:
    """The payloads of the events that carry case data here: the start, updates, activities."""
    found: list[Any] = []
    for field, value in event.ListFields():
        if field.name.endswith("_attributes"):
            for inner, data in value.ListFields():
                if inner.name in ("input", "result") and hasattr(data, "payloads"):
                    found += list(data.payloads)
                if inner.name in ("accepted_request",):
                    found += list(data.input.args.payloads)
                if inner.name == "outcome" and data.HasField("success"):
                    found += list(data.success.payloads)
    return found
