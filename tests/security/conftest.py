"""A time-skipping Temporal server and a worker configured as in production (backdating off) for the
attack tests: each forgery must end refused with a reason, nothing in the outbox, the real case unharmed."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.outbox import Outbox
from aftersales_cli.devserver import test_server_binary as find_test_server
from tests.conftest import POLICIES
from tests.e2e.harness import Deferred, register_search_attributes, running_worker

TASK_QUEUE = "aftersales-security"


@pytest_asyncio.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_test_server(), data_converter=pydantic_data_converter
    )
    await register_search_attributes(environment.client)
    yield environment
    await environment.shutdown()


@pytest.fixture(scope="module")
def deferred() -> Deferred:
    return Deferred()


@pytest.fixture(scope="module")
def outbox_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("security") / "outbox.sqlite3"


@pytest_asyncio.fixture(scope="module")
async def outbox(env: WorkflowEnvironment, deferred: Deferred, outbox_path: Path) -> AsyncIterator[Outbox]:
    """The production default: no backdating (running_worker's default)."""
    async with running_worker(env.client, POLICIES, outbox_path, TASK_QUEUE, deferred) as box:
        yield box


async def server_now(env: WorkflowEnvironment) -> dt.datetime:
    return await env.get_current_time()
