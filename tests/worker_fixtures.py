"""The fixtures of the folders that drive cases through a real worker, written once.

Each folder (or test module) binds its own set to the fixture names with one line, so that it gets its
own server, task queue and outbox: one folder's cases never meet another's, and what a folder sets apart
(how long its server lives, its worker's backdating) is in that line.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Literal, NamedTuple

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.outbox import Outbox
from activities.start_checks import Backdating
from tests.conftest import POLICIES
from tests.e2e.harness import Deferred, in_memory_dev_server, running_worker, time_skipping_server
from tests.principal import DATA_CONVERTER

# How long a server and its worker live: the whole session (a folder's tests share them) or one module
# (a module's tests share them, and each module starts from an empty outbox).
Lifetime = Literal["session", "module"]


class TimeSkippingWorker(NamedTuple):
    """Fixture definitions, for pytest to find under these names in the module that binds them."""

    env: object
    deferred: object
    outbox_path: object
    outbox: object


def time_skipping_worker(
    lifetime: Lifetime, task_queue: str, backdating: Backdating | None = None
) -> TimeSkippingWorker:
    """The time-skipping test server (`env`), and one worker on `task_queue` whose effects go to
    `outbox` (a file at `outbox_path`) and whose deferred reports are `deferred`. Without `backdating`
    the worker refuses backdated cases, as in production (running_worker's default)."""

    @pytest_asyncio.fixture(scope=lifetime)
    async def env() -> AsyncIterator[WorkflowEnvironment]:
        async with time_skipping_server() as environment:
            yield environment

    @pytest.fixture(scope=lifetime)
    def deferred() -> Deferred:
        return Deferred()

    @pytest.fixture(scope=lifetime)
    def outbox_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
        return tmp_path_factory.mktemp(task_queue) / "outbox.sqlite3"

    @pytest_asyncio.fixture(scope=lifetime)
    async def outbox(env: WorkflowEnvironment, deferred: Deferred, outbox_path: Path) -> AsyncIterator[Outbox]:
        async with running_worker(env.client, POLICIES, outbox_path, task_queue, deferred, backdating) as box:
            yield box

    return TimeSkippingWorker(env, deferred, outbox_path, outbox)


class DevServerWorker(NamedTuple):
    """Fixture definitions, for pytest to find under these names in the module that binds them."""

    server: object
    client: object
    task_queue: object
    outbox: object


def dev_server_worker(name: str) -> DevServerWorker:
    """For one test module: a real dev server in memory (`server`, its address), a `client` of it, and
    one worker as production runs it (backdating off) on a task queue of its own (`task_queue`, named
    after `name`) whose effects go to `outbox`."""

    @pytest.fixture(scope="module")
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
        with in_memory_dev_server(tmp_path_factory.mktemp(f"{name}-dev-server")) as address:
            yield address

    @pytest_asyncio.fixture(scope="module")
    async def client(server: str) -> Client:
        return await Client.connect(server, data_converter=DATA_CONVERTER)

    @pytest.fixture(scope="module")
    def task_queue() -> str:
        return f"{name}-{uuid.uuid4().hex[:8]}"

    @pytest_asyncio.fixture(scope="module")
    async def outbox(
        client: Client, task_queue: str, tmp_path_factory: pytest.TempPathFactory
    ) -> AsyncIterator[Outbox]:
        path = tmp_path_factory.mktemp(f"{name}-outbox") / "outbox.sqlite3"
        async with running_worker(client, POLICIES, path, task_queue, Deferred()) as box:
            yield box

    return DevServerWorker(server, client, task_queue, outbox)
