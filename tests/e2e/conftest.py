"""One time-skipping Temporal test server and one worker for the end-to-end tests of a session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from activities.outbox import Outbox
from tests.conftest import POLICIES
from tests.e2e.harness import SCENARIO_DATES, Deferred, running_worker, time_skipping_server

TASK_QUEUE = "aftersales-e2e"


@pytest_asyncio.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_server() as environment:
        yield environment


@pytest.fixture(scope="session")
def deferred() -> Deferred:
    return Deferred()


@pytest_asyncio.fixture(scope="session")
async def outbox(
    env: WorkflowEnvironment, deferred: Deferred, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Outbox]:
    path: Path = tmp_path_factory.mktemp("e2e") / "outbox.sqlite3"
    async with running_worker(env.client, POLICIES, path, TASK_QUEUE, deferred, SCENARIO_DATES) as box:
        yield box
