"""Starting the worker where cases can run: search attributes, addresses, policy watching, log lines.

The search-attribute check runs here against a fake operator service (the refusals a real server
gives with a permission it lacks, or an attribute of another type); tests/e2e/test_existing_server.py
runs it on a real `temporal server start-dev`.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
import structlog
from structlog.testing import capture_logs
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    AddSearchAttributesResponse,
    ListSearchAttributesRequest,
    ListSearchAttributesResponse,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.policy_source import PolicySource
from aftersales_cli.devserver import default_ui_port, split_address, ui_url
from service import Settings, StartRefused, ensure_search_attributes, log_formatter
from tests.conftest import POLICIES, ROOT
from workflows.search_attributes import expected_types, registration_args

KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
TEXT = IndexedValueType.INDEXED_VALUE_TYPE_TEXT
AFTERSALES = str(Path(sys.executable).parent / "aftersales")


# --- search attributes ----------------------------------------------------------------------------


class FakeOperator:
    """Answers like Temporal's operator service; `add_error` makes registration fail like Temporal Cloud."""

    def __init__(
        self,
        registered: Mapping[str, int],
        *,
        add_error: RPCError | None = None,
        list_error: RPCError | None = None,
        visible_after: int = 0,
    ) -> None:
        self.registered = dict(registered)
        self.add_error = add_error
        self.list_error = list_error
        self.visible_after = visible_after  # lists after a registration that still miss the new ones
        self.pending: dict[str, int] = {}
        self.added: list[dict[str, int]] = []

    async def list_search_attributes(
        self,
        req: ListSearchAttributesRequest,
        retry: bool = False,
        metadata: Mapping[str, str | bytes] = {},
        timeout: dt.timedelta | None = None,
    ) -> ListSearchAttributesResponse:
        if self.list_error is not None:
            raise self.list_error
        if self.pending:
            if self.visible_after <= 0:
                self.registered.update(self.pending)
                self.pending = {}
            self.visible_after -= 1
        return ListSearchAttributesResponse(custom_attributes=self.registered)

    async def add_search_attributes(
        self,
        req: AddSearchAttributesRequest,
        retry: bool = False,
        metadata: Mapping[str, str | bytes] = {},
        timeout: dt.timedelta | None = None,
    ) -> AddSearchAttributesResponse:
        if self.add_error is not None:
            raise self.add_error
        self.added.append(dict(req.search_attributes))
        self.pending.update(req.search_attributes)
        return AddSearchAttributesResponse()


def _settings(**changes: Any) -> Settings:
    return Settings(**{"address": "temporal.example.com:7233", "namespace": "shop", **changes})


def _all_but(*names: str) -> dict[str, int]:
    return {k: v for k, v in expected_types().items() if k not in names}


async def test_present_attributes_are_left_alone() -> None:
    admin = FakeOperator(expected_types())
    assert await ensure_search_attributes(admin, _settings()) == []
    assert admin.added == []


async def test_missing_attributes_are_registered_and_awaited() -> None:
    admin = FakeOperator(_all_but("MerchantId", "SlaBreached"), visible_after=2)
    registered = await ensure_search_attributes(admin, _settings(), poll=0.01)
    assert registered == ["MerchantId", "SlaBreached"]
    assert admin.added == [{"MerchantId": KEYWORD, "SlaBreached": IndexedValueType.INDEXED_VALUE_TYPE_BOOL}]
    assert admin.registered == expected_types()


async def test_a_server_that_never_lists_them_is_a_refusal() -> None:
    admin = FakeOperator(_all_but("Priority"), visible_after=10_000)
    with pytest.raises(StartRefused, match=r"\(Priority\).*still not listed after"):
        await ensure_search_attributes(admin, _settings(), patience=0.2, poll=0.01)


async def test_no_permission_to_register_gives_the_commands() -> None:
    denied = RPCError("Request unauthorized.", RPCStatusCode.PERMISSION_DENIED, b"")
    admin = FakeOperator(_all_but("MerchantId", "EscalationLevel"), add_error=denied)
    with pytest.raises(StartRefused) as info:
        await ensure_search_attributes(admin, _settings(api_key="k"))
    message = str(info.value)
    first = message.splitlines()[0]
    assert "namespace 'shop' at temporal.example.com:7233" in first
    assert "(MerchantId, EscalationLevel)" in first and "permission denied" in first
    create = "temporal operator search-attribute create --address temporal.example.com:7233 --namespace shop"
    assert f"{create} --name MerchantId --type Keyword" in message
    assert f"{create} --name EscalationLevel --type Int" in message
    assert "CaseType" not in message  # only what is missing
    assert "--api-key" in message  # the connection options the user needs for this server
    assert (
        "tcld namespace search-attributes add --namespace shop "
        "--search-attribute MerchantId=Keyword --search-attribute EscalationLevel=Int"
    ) in message


async def test_an_attribute_of_another_type_is_a_refusal() -> None:
    admin = FakeOperator({**expected_types(), "CaseState": TEXT})
    with pytest.raises(StartRefused) as info:
        await ensure_search_attributes(admin, _settings(address="localhost:7233"))
    message = str(info.value)
    assert "CaseState is registered as Text; cases write it as Keyword" in message
    # The default address is not repeated in the commands.
    assert "temporal operator search-attribute remove --namespace shop --name CaseState --yes" in message
    assert "temporal operator search-attribute create --namespace shop --name CaseState --type Keyword" in message
    assert "TEMPORAL_NAMESPACE" in message
    assert admin.added == []  # nothing registered next to a conflict


async def test_an_unknown_namespace_is_named() -> None:
    missing = RPCError("Namespace shop is not found.", RPCStatusCode.NOT_FOUND, b"")
    with pytest.raises(StartRefused, match=r"(?s)the namespace 'shop' does not exist.*TEMPORAL_NAMESPACE"):
        await ensure_search_attributes(FakeOperator({}, list_error=missing), _settings())


async def test_no_permission_to_read_them_warns_and_goes_on() -> None:
    denied = RPCError("Request unauthorized.", RPCStatusCode.PERMISSION_DENIED, b"")
    with capture_logs() as logs:
        assert await ensure_search_attributes(FakeOperator({}, list_error=denied), _settings()) == []
    (warning,) = [e for e in logs if e["log_level"] == "warning"]
    assert "BadSearchAttributes" in warning["event"]
    assert warning["check"].startswith("temporal operator search-attribute list --address")


def test_the_dev_server_flags_cover_every_attribute() -> None:
    flags = registration_args()
    assert flags[1::2] == [f"{k}={v}" for k, v in zip(expected_types(), _type_names(), strict=True)]


def _type_names() -> list[str]:
    names = {KEYWORD: "Keyword", IndexedValueType.INDEXED_VALUE_TYPE_BOOL: "Bool"}
    return [names.get(kind, "Int") for kind in expected_types().values()]


# --- addresses and ports --------------------------------------------------------------------------


def test_addresses_and_web_ui_ports() -> None:
    assert split_address("127.0.0.1:7300") == ("127.0.0.1", 7300)
    assert default_ui_port("127.0.0.1:7233") == 8233
    assert default_ui_port("127.0.0.1:7300") == 8300
    assert ui_url("127.0.0.1:7300", 8300) == "http://localhost:8300"
    assert ui_url("10.0.0.5:7233", 8233) == "http://10.0.0.5:8233"
    with pytest.raises(ValueError, match="TEMPORAL_ADDRESS must be host:port"):
        split_address("localhost")


@pytest.fixture
def not_temporal() -> Iterator[int]:
    """A port held by a program that is not a Temporal server (a plain HTTP server)."""
    server = http.server.HTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _dev(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`aftersales dev` as a user runs it (never against the default address: it may be in use)."""
    full_env = {**os.environ, "AFTERSALES_LOG_FORMAT": "console", **env}
    return subprocess.run(
        [AFTERSALES, "dev", *args], capture_output=True, text=True, timeout=30, env=full_env, cwd=ROOT
    )


def test_dev_says_when_the_port_is_not_a_temporal_server(not_temporal: int) -> None:
    # As `TEMPORAL_ADDRESS=... make run` passes it: through the environment.
    done = _dev(env={"TEMPORAL_ADDRESS": f"127.0.0.1:{not_temporal}"})
    assert done.returncode == 1
    assert f"127.0.0.1:{not_temporal} is in use by a program that is not a Temporal server" in done.stderr
    assert re.search(r"TEMPORAL_ADDRESS=127\.0\.0\.1:\d+ make run", done.stderr)
    assert "Traceback" not in done.stderr


def test_dev_says_when_the_web_ui_port_is_taken(not_temporal: int) -> None:
    from aftersales_cli.devserver import free_port

    done = _dev("--address", f"127.0.0.1:{free_port()}", env={"AFTERSALES_UI_PORT": str(not_temporal)})
    assert done.returncode == 1
    assert f"the web UI port {not_temporal} is in use" in done.stderr
    assert "AFTERSALES_UI_PORT=" in done.stderr and "--ui-port" in done.stderr


# --- policy watching ------------------------------------------------------------------------------


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(POLICIES, folder, ignore=shutil.ignore_patterns("tests"))
    return folder


def _wait_for(logs: list[dict[str, Any]], found: Callable[[dict[str, Any]], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not any(found(e) for e in list(logs)):
        assert time.monotonic() < deadline, f"not logged within {within:.0f} s: {logs}"
        time.sleep(0.05)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_worker_notices_an_edit_by_itself(policy_copy: Path) -> None:
    source = PolicySource(policy_copy)
    before = source.current().policies["return-default"].short_version
    returns = policy_copy / "returns.yaml"
    source.start_watching(every=0.1, settle=0.05)
    watcher = source._watcher
    try:
        # A case being served on this thread binds its ids: the watcher's lines must not carry them.
        with (
            capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs,
            structlog.contextvars.bound_contextvars(case_id="R-9", workflow_id="case-R-9"),
        ):
            _edit(returns, "title: Return and refund", "title: Return and refund, edited")
            _wait_for(logs, lambda e: e["event"] == "policies reloaded")
            (reloaded,) = [e for e in logs if e["event"] == "policies reloaded"]
            after = source.current().policies["return-default"].short_version
            assert reloaded["changed"] == {"return-default": f"{before} -> {after}"}

            _edit(returns, "goto: awaiting_merchant", "goto: awaiting_merchnt")
            _wait_for(logs, lambda e: "still serving the last good set" in e["event"])
        problems = [e["event"] for e in logs if e["log_level"] == "error"]
        assert any(re.search(r"returns\.yaml:\d+:\d+: unknown state 'awaiting_merchnt'", p) for p in problems), problems
        assert source.current().policies["return-default"].short_version == after  # the last good set
        assert all("case_id" not in e and "workflow_id" not in e for e in logs), logs
    finally:
        source.stop_watching()
    assert watcher is not None and not watcher.is_alive()  # stopped, not left behind


def test_a_reload_during_a_case_is_not_logged_as_that_case(policy_copy: Path) -> None:
    source = PolicySource(policy_copy, check_every=0)
    _edit(policy_copy / "returns.yaml", "goto: awaiting_merchant", "goto: awaiting_merchnt")
    with (
        capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs,
        structlog.contextvars.bound_contextvars(case_id="R-9", workflow_id="case-R-9"),
    ):
        assert source.maybe_reload() is False  # as `resolve` does when a case opens
    assert logs and all("case_id" not in e for e in logs), logs


# --- log lines ------------------------------------------------------------------------------------


def _record(**extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("temporalio.workflow", logging.INFO, __file__, 1, "case opened", (), None)
    record.__dict__.update(extra)
    return record


WORKFLOW_CONTEXT = {
    "attempt": 1,
    "namespace": "default",
    "run_id": "r-1",
    "task_queue": "aftersales",
    "workflow_id": "case-R-1",
    "workflow_type": "AfterSalesCase",
}


def test_temporal_context_becomes_fields_in_json() -> None:
    line = log_formatter("json").format(_record(temporal_workflow=WORKFLOW_CONTEXT, case_id="R-1"))
    event = json.loads(line)
    assert event["event"] == "case opened"
    assert event["workflow_id"] == "case-R-1" and event["case_id"] == "R-1" and event["attempt"] == 1
    assert "temporal_workflow" not in event and "namespace" not in event


def test_sdk_core_lines_are_rendered_like_ours() -> None:
    class CoreLine:  # what LogForwardingConfig puts on the record
        target = "temporalio_sdk_core::worker::workflow"
        fields: ClassVar[dict[str, Any]] = {"run_id": "r-1", "error": ValueError("BadSearchAttributes")}

    line = log_formatter("console").format(_record(temporal_log=CoreLine()))
    assert "case opened" in line and "target=temporalio_sdk_core::worker::workflow" in line
    assert "error=BadSearchAttributes" in line and "{" not in line
