"""One time-skipping Temporal server and one worker for the audit tests of a session (as tests/e2e)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from activities.outbox import Outbox
from tests.conftest import POLICIES
from tests.e2e.harness import SCENARIO_DATES, Deferred, running_worker, time_skipping_server

TASK_QUEUE = "aftersales-audit"


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
    path: Path = tmp_path_factory.mktemp("audit") / "outbox.sqlite3"
    # The policy tests' own dates, and a small history limit for the continue-as-new case.
    allowed = dataclasses.replace(SCENARIO_DATES, history_limit=True)
    async with running_worker(env.client, POLICIES, path, TASK_QUEUE, deferred, allowed) as box:
        yield box
