"""The aftersales worker: runs `AfterSalesCase` workflows and their activities.

Connects with TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE (and TLS or an API key when set), refuses to
start on an invalid policy set or a namespace without the cases' search attributes (registering
them itself where it may), reloads policies when files change (keeping the last good set), and
shuts down cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import signal
import sys
from pathlib import Path

import sqlalchemy as sa
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.case_activities import CaseActivities, OutboxSink, WebhookDeliverySink
from activities.ledger_activities import LedgerActivities
from activities.outbox import Outbox
from activities.policy_loading import LoadFailed, LoadLimits
from activities.policy_source import PolicySource
from activities.report_activities import ReportActivities
from activities.risk_activities import RiskActivities
from activities.start_checks import Backdating
from activities.webhook import WebhookSink
from ledger.store import Ledger
from service import Settings, StartRefused, configure_logging, connect_client, ensure_search_attributes
from service.identity import GrantsError, GrantsWatcher
from service.identity.admission import CallerGate
from service.identity.keys import load_private_key, new_private_key, write_private_key
from service.refusals import RefusalLog
from workflows.case_workflow import AfterSalesCase
from workflows.compliance_workflow import ComplianceWatch
from workflows.report_workflow import PublishReports

log = structlog.get_logger("aftersales.worker")
PUBLISHED_FOLDER = "published"  # where the scheduled reports go by default, in the project folder
GRANTS_CHECK_SECONDS = 2.0  # how often the worker looks at the grants file (one stat)

# Modules the workflow sandbox passes through instead of re-importing per run: our pure core and the
# libraries it uses are deterministic, and re-importing Jinja and pydantic per case would cost memory.
PASSTHROUGH_MODULES = ("policy_engine", "workflows.contract", "pydantic", "jinja2", "yaml", "markupsafe")


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


def caller_gate(settings: Settings, source: PolicySource) -> tuple[CallerGate, GrantsWatcher]:
    """The worker's callers setting and the grants file it watches (raises GrantsError if invalid now)."""
    watcher = GrantsWatcher(Path(settings.grants_path), case_types=lambda: source.current().case_types, strict=True)
    return CallerGate(settings.callers, watcher.current), watcher


def build_worker(
    client: Client,
    settings: Settings,
    source: PolicySource,
    *,
    max_cached: int = 1000,
    callers: CallerGate | None = None,
    ledger: Ledger | None = None,
) -> Worker:
    """The worker; `ledger`: the database opened and upgraded at start (see `open_ledger`), opened here when None."""
    if ledger is None and needs_database(settings):
        ledger = open_ledger(settings.database_url)
    outbox = Outbox(Path(settings.outbox_path)) if settings.outbox_set or ledger is None else Outbox(ledger)
    sink: OutboxSink | WebhookDeliverySink
    if settings.sink == "webhook":
        webhook = WebhookSink(
            settings.webhook_urls,
            settings.webhook_secret,
            allow_http=settings.webhook_allow_http,
            allow_internal=settings.webhook_allow_internal,
        )
        sink = WebhookDeliverySink(outbox, webhook)
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
        callers=callers if callers is not None else caller_gate(settings, source)[0],
        worker_key=worker_key(Path(settings.worker_key_path)),
        limits=settings.data_limits,
        ledger=settings.ledger,
    )
    # Blocking database writes: they run in the thread pool, with the outbox's.
    facts = LedgerActivities(ledger).activities() if settings.ledger and ledger is not None else []
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[AfterSalesCase, ComplianceWatch, PublishReports],
        activities=[
            *acts.activities(),
            *RiskActivities(Path(settings.policy_dir), settings.database_url, acts).activities(),
            *publications(settings, sink).activities(),
            *facts,
        ],
        activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=8),
        workflow_runner=workflow_runner(),
        max_cached_workflows=max_cached,
        # Updates refused by their validator leave no trace in the history: the log keeps them (docs/audit.md).
        interceptors=[RefusalLog(settings.database_url).start().interceptor],
    )


def publications(settings: Settings, sink: OutboxSink | WebhookDeliverySink) -> ReportActivities:
    """The scheduled reports' activity: published to `<project>/published` unless a run names a folder."""
    return ReportActivities(
        Path(settings.policy_dir),
        settings.database_url,
        sink,
        timezone=settings.display_timezone,
        folder=Path(settings.home) / PUBLISHED_FOLDER,
        allowed=[Path(d) for d in settings.publish_dirs],
    )


def needs_database(settings: Settings) -> bool:
    """Whether the worker uses AFTERSALES_DATABASE_URL: for the ledger, or for the outbox unless
    AFTERSALES_OUTBOX keeps it in its own file."""
    return settings.ledger or not settings.outbox_set


def open_ledger(url: str) -> Ledger:
    """The ledger's database at the newest schema (blocking; raises SQLAlchemyError or OSError)."""
    ledger = Ledger(url)
    try:
        ledger.upgrade()
    except BaseException:
        ledger.close()
        raise
    return ledger


def shown(url: str) -> str:
    """A database URL as the log may show it: never its password."""
    return sa.make_url(url).render_as_string(hide_password=True)


def worker_key(path: Path) -> Ed25519PrivateKey:
    """The worker's own key, shared by its processes: read from `path`, or made there (0600) once."""
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another process made it first
            write_private_key(path, new_private_key())
    return load_private_key(path)


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
    limits = LoadLimits(timeout=settings.policy_load_timeout, memory_mb=settings.policy_load_memory_mb)
    try:
        source = PolicySource(Path(settings.policy_dir), limits=limits)
    except LoadFailed as exc:  # the loading child ran out of time or memory, or crashed
        return _refuse(settings, f"policy set not adopted from {settings.policy_dir}: {exc.reason}")
    except Exception as exc:  # PolicyError: print every problem, refuse to start
        problems = getattr(exc, "problems", None)
        for problem in problems or [exc]:
            print(str(problem))
        log.error("refusing to start: the policy set is invalid", policy_dir=settings.policy_dir)
        return 1
    grants = Path(settings.grants_path)
    if settings.callers == "signed" and not grants.exists():
        return _refuse(
            settings,
            f"callers must be signed (AFTERSALES_CALLERS=signed) and there is no grants file at {grants}",
            "Make principals with `aftersales keys new NAME --roles ...` (docs/security.md), point "
            "AFTERSALES_GRANTS at your grants file, or run `aftersales dev` for a local one.",
        )
    try:
        gate, watcher = caller_gate(settings, source)
    except GrantsError as exc:
        return _refuse(settings, "the grants file is invalid", "\n".join(str(p) for p in exc.problems))
    # The database before the Temporal server: a case must never run without its ledger and outbox.
    ledger = None
    if needs_database(settings):
        try:
            ledger = await asyncio.to_thread(open_ledger, settings.database_url)
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            # The driver's message may quote the URL or the server's internals: name what failed instead.
            error = type(getattr(exc, "orig", None) or exc).__name__
            return _refuse(
                settings,
                f"cannot use the ledger database {shown(settings.database_url)} ({error}): "
                "check AFTERSALES_DATABASE_URL and that its server is running",
            )
    try:
        client = await connect_client(settings)  # payloads encrypted with the codec keys (AFTERSALES_CODEC_KEYS)
    except ValueError as exc:  # an unreadable TLS or codec key file, named
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
    worker = build_worker(client, settings, source, callers=gate, ledger=ledger)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    source.start_watching()  # edits are reported within a second or two, without waiting for a case

    async def watch_grants() -> None:  # a new principal works, a revoked one stops, within seconds
        while True:
            await asyncio.sleep(GRANTS_CHECK_SECONDS)
            await asyncio.to_thread(watcher.check)

    watching = asyncio.create_task(watch_grants())
    try:
        async with worker:
            log.info(
                "worker started",
                address=settings.address,
                namespace=settings.namespace,
                task_queue=settings.task_queue,
                policies=len(source.current().policies),
                policy_dir=settings.policy_dir,
                ledger=shown(settings.database_url) if settings.ledger else "off",
                outbox=str(settings.outbox_path) if settings.outbox_set else "in the ledger database",
            )
            if settings.callers == "open":
                log.warning(
                    "CALLERS ARE NOT CHECKED: unsigned opens and events are accepted (AFTERSALES_CALLERS=open); "
                    "for migration only, set AFTERSALES_CALLERS=signed",
                    grants=str(grants),
                )
            if settings.allow_backdating:
                log.warning(
                    "backdating allowed: new cases may open in the past (AFTERSALES_ALLOW_BACKDATING)",
                    max_days=settings.backdating_max_days,
                )
            await stop.wait()
            log.info("worker stopping")
    finally:
        watching.cancel()
        source.stop_watching()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("worker stopped")
    return 0


def main() -> None:
    raise SystemExit(asyncio.run(run_worker()))


if __name__ == "__main__":
    main()
