"""The aftersales worker: runs `AfterSalesCase` workflows and their activities.

Connects with TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE (and TLS or an API key when set), refuses to
start on an invalid policy set or a namespace without the cases' search attributes (registering
them itself where it may), reloads policies when files change (keeping the last good set), and
shuts down cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import signal
import sys
from pathlib import Path

import structlog
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.case_activities import CaseActivities, OutboxSink, WebhookDeliverySink
from activities.outbox import Outbox
from activities.policy_source import PolicySource
from activities.start_checks import Backdating
from activities.webhook import WebhookSink
from service import Settings, StartRefused, configure_logging, connect_client, ensure_search_attributes
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
        source,
        sink,
        lambda: client,
        task_queue=settings.task_queue,
        deferred_reports=lambda r: r.reports in deferred,
        backdating=backdating_of(settings),
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


def backdating_of(settings: Settings) -> Backdating:
    """The worker's backdating capability, from AFTERSALES_ALLOW_BACKDATING and AFTERSALES_BACKDATING_MAX_DAYS."""
    return Backdating(allowed=settings.allow_backdating, max_age=dt.timedelta(days=settings.backdating_max_days))


# --- running --------------------------------------------------------------------------------------


def _refuse(settings: Settings | None, summary: str, detail: str = "") -> int:
    """Say why the worker does not start, as the log format wants it, and give the exit code 1.

    On a terminal the message is plain text (the commands in it are to be copied); in JSON the
    lines are one event, so that log collectors see no stray text.
    """
    if settings is not None and settings.log_format == "json":
        log.error(f"refusing to start: {summary}", detail=detail.splitlines() or None)
    else:
        print(f"aftersales worker: refusing to start: {summary}", file=sys.stderr)
        if detail:
            print(detail, file=sys.stderr)
    return 1


async def run_worker(settings: Settings | None = None, *, stop: asyncio.Event | None = None) -> int:
    """Run until SIGTERM/SIGINT (or until `stop` is set); the exit code."""
    try:
        settings = settings or Settings.from_env()
    except ValueError as exc:  # names the variable to fix
        return _refuse(None, str(exc))
    configure_logging(settings.log_format)
    try:
        source = PolicySource(Path(settings.policy_dir))
    except Exception as exc:  # PolicyError: print every problem, refuse to start
        problems = getattr(exc, "problems", None)
        for problem in problems or [exc]:
            print(str(problem))
        log.error("refusing to start: the policy set is invalid", policy_dir=settings.policy_dir)
        return 1
    try:
        client = await connect_client(settings, pydantic_data_converter)
    except ValueError as exc:  # an unreadable TLS file, named
        return _refuse(settings, str(exc))
    except RuntimeError:  # the SDK's connection failure, with gRPC internals in its text
        return _refuse(
            settings,
            f"cannot reach a Temporal server at {settings.address} (namespace {settings.namespace})",
            "Start one with `aftersales dev` (or `make run`), or set TEMPORAL_ADDRESS to where yours runs.",
        )
    try:
        registered = await ensure_search_attributes(client.operator_service, settings)
    except StartRefused as exc:
        summary, _, detail = str(exc).partition("\n")
        return _refuse(settings, summary, detail)
    if registered:
        log.info("search attributes registered", namespace=settings.namespace, names=registered)
    worker = build_worker(client, settings, source)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    source.start_watching()  # edits are reported within a second or two, without waiting for a case
    try:
        async with worker:
            log.info(
                "worker started",
                address=settings.address,
                namespace=settings.namespace,
                task_queue=settings.task_queue,
                policies=len(source.current().policies),
                policy_dir=settings.policy_dir,
            )
            if settings.allow_backdating:
                log.warning(
                    "backdating allowed: new cases may open in the past (AFTERSALES_ALLOW_BACKDATING)",
                    max_days=settings.backdating_max_days,
                )
            await stop.wait()
            log.info("worker stopping")
    finally:
        source.stop_watching()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("worker stopped")
    return 0


def main() -> None:
    raise SystemExit(asyncio.run(run_worker()))


if __name__ == "__main__":
    main()
