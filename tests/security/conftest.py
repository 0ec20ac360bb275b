"""A time-skipping Temporal server and a worker configured as in production (backdating off) for the
attack tests: each forgery must end refused with a reason, nothing in the outbox, the real case unharmed.
Each test module gets its own server, worker and outbox."""

from __future__ import annotations

import datetime as dt

from temporalio.testing import WorkflowEnvironment

from tests.worker_fixtures import time_skipping_worker

TASK_QUEUE = "aftersales-security"

env, deferred, outbox_path, outbox = time_skipping_worker("module", TASK_QUEUE)


async def server_now(env: WorkflowEnvironment) -> dt.datetime:
    return await env.get_current_time()
