"""A time-skipping Temporal server and a worker configured as in production (backdating off) for the
attack tests: each forgery must end refused with a reason, nothing in the outbox, the real case unharmed."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from activities.outbox import Outbox
from tests.conftest import POLICIES
from tests.e2e.harness import Deferred, running_worker, time_skipping_server

TASK_QUEUE = "aftersales-security"


@pytest_asyncio.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_server() as environment:
        yield environment


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
