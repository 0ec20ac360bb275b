"""Worker and client settings from the environment, the Temporal connection, and logging.

One machine uses the defaults (the embedded dev server on localhost); a cluster or Temporal Cloud is
the same worker with TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and TLS or an API key set.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
import temporalio.activity
import temporalio.workflow
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.service import TLSConfig

SINKS = ("outbox", "webhook")
POLICY_DIR = "policies"  # the policy folder's name in a project, and the default AFTERSALES_POLICY_DIR
LOG_FORMATS = ("json", "console")


@dataclass(frozen=True)
class Settings:
    address: str = "localhost:7233"
    namespace: str = "default"
    task_queue: str = "aftersales"
    # Relative paths below are resolved against `home`, the project folder (see project_home).
    policy_dir: str = POLICY_DIR
    outbox_path: str = ".aftersales/outbox.sqlite3"
    home: str = "."
    home_source: str = "the current folder"  # how `home` was found, for commands that say which folder they use
    # The zone in which commands show times (cases keep and compute theirs with offsets).
    display_timezone: str = "Asia/Shanghai"
    sink: str = "outbox"
    webhook_urls: list[str] = field(default_factory=list)
    webhook_secret: str = ""
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    api_key: str | None = None
    log_format: str = "console"
    # Events whose answers come from outside (e.g. refund_completed from a payment callback); other
    # actions that report back are reported done as soon as the effect is handed to the sink.
    deferred_reports: list[str] = field(default_factory=list)
    # Cases opened through CaseClient keep CaseState current at every transition (see
    # CaseStart.list_by_state); false saves a visibility write per transition.
    list_by_state: bool = True

    def __post_init__(self) -> None:
        """A wrong setting stops the worker at start, with the variable to fix, not at the first case."""
        if not self.address:
            raise ValueError("TEMPORAL_ADDRESS must not be empty (host:port)")
        if not self.task_queue:
            raise ValueError("AFTERSALES_TASK_QUEUE must not be empty")
        if self.sink not in SINKS:
            raise ValueError(f"AFTERSALES_SINK must be one of {', '.join(SINKS)}, not '{self.sink}'")
        if self.sink == "webhook" and not self.webhook_urls:
            raise ValueError("AFTERSALES_SINK=webhook needs AFTERSALES_WEBHOOK_URLS (comma separated)")
        bad = [u for u in self.webhook_urls if not u.startswith(("http://", "https://"))]
        if bad:
            raise ValueError(f"AFTERSALES_WEBHOOK_URLS must be http:// or https:// URLs, not {', '.join(bad)}")
        if self.sink == "webhook" and not self.webhook_secret:
            raise ValueError("AFTERSALES_SINK=webhook needs AFTERSALES_WEBHOOK_SECRET to sign the requests")
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"AFTERSALES_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not '{self.log_format}'")
        try:
            ZoneInfo(self.display_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"AFTERSALES_TIMEZONE must be an IANA zone such as Asia/Shanghai or UTC, not '{self.display_timezone}'"
            ) from None
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (mutual TLS)")

    @property
    def tls(self) -> bool:
        """Temporal Cloud API keys only travel over TLS, so an API key turns TLS on."""
        return bool(self.tls_cert or self.tls_ca or self.api_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
        """Read the environment (or `env`, for tests); raises ValueError naming the wrong variable."""
        e = dict(os.environ if env is None else env)
        home, home_source = project_home(e, cwd or Path.cwd())

        def get(name: str, default: str | None = None) -> str | None:
            value = e.get(name, "").strip()
            return value or default

        default_format = "console" if sys.stderr.isatty() else "json"
        urls = [u.strip() for u in (get("AFTERSALES_WEBHOOK_URLS") or "").split(",") if u.strip()]
        return cls(
            address=get("TEMPORAL_ADDRESS", "localhost:7233") or "",
            namespace=get("TEMPORAL_NAMESPACE", "default") or "",
            task_queue=get("AFTERSALES_TASK_QUEUE", "aftersales") or "",
            policy_dir=str(home / (get("AFTERSALES_POLICY_DIR", POLICY_DIR) or POLICY_DIR)),
            outbox_path=str(home / (get("AFTERSALES_OUTBOX", ".aftersales/outbox.sqlite3") or "")),
            home=str(home),
            home_source=home_source,
            display_timezone=get("AFTERSALES_TIMEZONE", "Asia/Shanghai") or "",
            sink=(get("AFTERSALES_SINK", "outbox") or "").lower(),
            webhook_urls=urls,
            webhook_secret=get("AFTERSALES_WEBHOOK_SECRET", "") or "",
            tls_cert=get("TEMPORAL_TLS_CERT"),
            tls_key=get("TEMPORAL_TLS_KEY"),
            tls_ca=get("TEMPORAL_TLS_CA"),
            api_key=get("TEMPORAL_API_KEY"),
            log_format=(get("AFTERSALES_LOG_FORMAT", default_format) or default_format).lower(),
            deferred_reports=[x.strip() for x in (get("AFTERSALES_DEFERRED_REPORTS") or "").split(",") if x.strip()],
            list_by_state=_flag(get("AFTERSALES_LIST_BY_STATE", "true") or "true", "AFTERSALES_LIST_BY_STATE"),
        )


def project_home(env: Mapping[str, str], cwd: Path) -> tuple[Path, str]:
    """The project folder that relative settings are read from, and how it was found.

    `AFTERSALES_HOME` when set; otherwise the nearest folder, from the current one upwards, that
    holds a `policies/` folder (as git finds `.git`), so commands work from any subfolder; otherwise
    the current folder.
    """
    named = env.get("AFTERSALES_HOME", "").strip()
    if named:
        home = Path(named).expanduser().resolve()
        if not home.is_dir():
            raise ValueError(f"AFTERSALES_HOME: {named} is not a folder")
        return home, "AFTERSALES_HOME"
    here = cwd.resolve()
    for folder in (here, *here.parents):
        if (folder / POLICY_DIR).is_dir():
            return folder, "the current folder" if folder == here else f"found above {here}"
    return here, "the current folder (no policies/ folder found here or above)"


def _flag(value: str, variable: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"{variable} must be true or false, not '{value}'")


def _read(path: str | None, variable: str) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{variable}: cannot read {path}: {exc.strerror or exc}") from None


async def connect_client(settings: Settings, data_converter: DataConverter) -> Client:
    """Connect as the settings say: plain on one machine, TLS (mutual or server-only) or an API key elsewhere."""
    tls: bool | TLSConfig = False
    if settings.tls:
        tls = TLSConfig(
            server_root_ca_cert=_read(settings.tls_ca, "TEMPORAL_TLS_CA"),
            client_cert=_read(settings.tls_cert, "TEMPORAL_TLS_CERT"),
            client_private_key=_read(settings.tls_key, "TEMPORAL_TLS_KEY"),
        )
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        tls=tls,
        api_key=settings.api_key,
        data_converter=data_converter,
    )


def configure_logging(fmt: str = "console", level: int = logging.INFO) -> None:
    """structlog for our logs, the standard library's and the Temporal SDK's: JSON lines in
    production, one readable line per event on a terminal (the same fields either way)."""
    structlog.configure(
        processors=[*_shared_processors(), *_tail(fmt), _renderer(fmt)],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Logs go to stderr, like the standard library's: stdout stays for command output.
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(log_formatter(fmt))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The SDK appends its workflow/activity context to the message as a dict repr ("case opened
    # ({'attempt': 1, ...})"); it also puts it on the record, where `_record_fields` makes fields of it.
    temporalio.workflow.logger.workflow_info_on_message = False
    temporalio.activity.logger.activity_info_on_message = False
    _forward_core_logs()


def log_formatter(fmt: str) -> logging.Formatter:
    """How standard-library records (Temporal's, ours from workflow code) are rendered."""
    return structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *_tail(fmt), _renderer(fmt)],
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *_shared_processors(), _record_fields],
    )


def _renderer(fmt: str) -> Any:
    if fmt == "json":
        return structlog.processors.JSONRenderer()
    # Colours only on a terminal: AFTERSALES_LOG_FORMAT=console into a file stays free of escape codes.
    # Plain tracebacks: the default (rich, with every local variable) fills a screen per failed activity.
    return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback)


def _tail(fmt: str) -> list[Any]:
    # JSON needs tracebacks as text; the console renderer prints them itself, prettier.
    return [structlog.processors.format_exc_info] if fmt == "json" else []


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,  # case_id and workflow_id bound by the activities
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


# What a Temporal log record's context says, as fields of ours. The namespace and task queue are left
# out: a worker serves one of each and logs them when it starts.
_TEMPORAL_FIELDS = (
    "workflow_id",
    "run_id",
    "workflow_type",
    "activity_type",
    "activity_id",
    "attempt",
    "update_id",
    "update_name",
)
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _record_fields(logger: Any, method: str, event: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """A standard-library record's `extra` as fields: workflow code's (case_id, ...), the SDK's
    workflow/activity context, and SDK core's own fields (forwarded by `_forward_core_logs`)."""
    record = event.get("_record")
    if not isinstance(record, logging.LogRecord):
        return event
    for key, value in record.__dict__.items():
        # Whole info objects, and the SDK's private markers (__temporal_error_identifier): not for people.
        if key in _RECORD_ATTRIBUTES or key in ("workflow_info", "activity_info") or key.startswith("_"):
            continue
        if key in ("temporal_workflow", "temporal_activity") and isinstance(value, Mapping):
            for name in _TEMPORAL_FIELDS:
                if name in value:
                    event.setdefault(name, value[name])
        elif key == "temporal_log":  # a line from SDK core (Rust): where it comes from, and its fields
            event.setdefault("target", getattr(value, "target", ""))
            for name, field_value in (getattr(value, "fields", None) or {}).items():
                plain = field_value is None or isinstance(field_value, str | int | float | bool)
                event.setdefault(name, field_value if plain else str(field_value))
        else:
            event.setdefault(key, value)
    return event


_core_forwarded = False


def _forward_core_logs() -> None:
    """Send SDK core's warnings (written in Rust, printed to stderr with colours of their own) to the
    `temporalio.core` logger, so they are rendered like every other line. The runtime must be set
    before the first client is made; clients made earlier keep the runtime they had."""
    global _core_forwarded
    if _core_forwarded:  # a runtime starts threads of its own: one per process
        return
    forwarding = LogForwardingConfig(
        logger=logging.getLogger("temporalio.core"),
        append_target_to_name=False,
        prepend_target_on_message=False,
        append_log_fields_to_message=False,  # `_record_fields` makes fields of them instead
    )
    filter_ = TelemetryFilter(core_level="WARN", other_level="ERROR")  # the SDK's default levels
    Runtime.set_default(
        Runtime(telemetry=TelemetryConfig(logging=LoggingConfig(filter=filter_, forwarding=forwarding))),
        error_if_already_set=False,
    )
    _core_forwarded = True
