"""The aftersales worker: runs `AfterSalesCase` workflows and their activities.

Connects with TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE (and TLS or an API key when set), refuses to
start on an invalid policy set, reloads policies when files change (keeping the last good set), and
shuts down cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
from pathlib import Path

import structlog
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.case_activities import CaseActivities, OutboxSink, WebhookDeliverySink
from activities.config import Settings, configure_logging, connect_client
from activities.outbox import Outbox
from activities.policy_source import PolicySource
from activities.webhook import WebhookSink
from workflows.case_workflow import AfterSalesCase

log = structlog.get_logger("aftersales.worker")

# Modules the workflow sandbox passes through instead of re-importing per run: our pure core and the
# libraries it uses are deterministic, and re-importing Jinja and pydantic per case would cost memory.
PASSTHROUGH_MODULES = ("policy_engine", "workflows.contract", "pydantic", "jinja2", "yaml", "markupsafe")


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


def build_worker(client: Client, settings: Settings, source: PolicySource, *, max_cached: int = 1000) -> Worker:
    outbox = Outbox(Path(settings.outbox_path))
    sink: OutboxSink | WebhookDeliverySink
    if settings.sink == "webhook":
        sink = WebhookDeliverySink(outbox, WebhookSink(settings.webhook_urls, settings.webhook_secret))
    else:
        sink = OutboxSink(outbox)
    deferred = set(settings.deferred_reports)
    acts = CaseActivities(
        source, sink, lambda: client, task_queue=settings.task_queue, deferred_reports=lambda r: r.reports in deferred
    )
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[AfterSalesCase],
        activities=acts.activities(),
        activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=8),
        workflow_runner=workflow_runner(),
        max_cached_workflows=max_cached,
    )


async def run_worker(settings: Settings | None = None) -> int:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_format)
    try:
        source = PolicySource(Path(settings.policy_dir))
    except Exception as exc:  # PolicyError: print every problem, refuse to start
        problems = getattr(exc, "problems", None)
        for problem in problems or [exc]:
            print(str(problem))
        log.error("refusing to start: the policy set is invalid", policy_dir=settings.policy_dir)
        return 1
    client = await connect_client(settings, pydantic_data_converter)
    worker = build_worker(client, settings, source)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "worker started",
        address=settings.address,
        namespace=settings.namespace,
        task_queue=settings.task_queue,
        policies=len(source.current().policies),
    )
    async with worker:
        await stop.wait()
        log.info("worker stopping")
    log.info("worker stopped")
    return 0


def main() -> None:
    raise SystemExit(asyncio.run(run_worker()))


if __name__ == "__main__":
    main()
