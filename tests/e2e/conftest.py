"""One time-skipping Temporal test server and one worker for the end-to-end tests of a session."""

from __future__ import annotations

from tests.e2e.harness import SCENARIO_DATES
from tests.worker_fixtures import time_skipping_worker

TASK_QUEUE = "aftersales-e2e"

env, deferred, outbox_path, outbox = time_skipping_worker("session", TASK_QUEUE, SCENARIO_DATES)
