"""One time-skipping Temporal server and one worker for the audit tests of a session (as tests/e2e)."""

from __future__ import annotations

import dataclasses

from tests.e2e.harness import SCENARIO_DATES
from tests.worker_fixtures import time_skipping_worker

TASK_QUEUE = "aftersales-audit"

# The policy tests' own dates, and a small history limit for the continue-as-new case.
env, deferred, outbox_path, outbox = time_skipping_worker(
    "session", TASK_QUEUE, dataclasses.replace(SCENARIO_DATES, history_limit=True)
)
