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

import structlog
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.service import TLSConfig

SINKS = ("outbox", "webhook")
LOG_FORMATS = ("json", "console")


@dataclass(frozen=True)
class Settings:
    address: str = "localhost:7233"
    namespace: str = "default"
    task_queue: str = "aftersales"
    policy_dir: str = "policies"
    outbox_path: str = ".aftersales/outbox.sqlite3"
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
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (mutual TLS)")

    @property
    def tls(self) -> bool:
        """Temporal Cloud API keys only travel over TLS, so an API key turns TLS on."""
        return bool(self.tls_cert or self.tls_ca or self.api_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the environment (or `env`, for tests); raises ValueError naming the wrong variable."""
        e = dict(os.environ if env is None else env)

        def get(name: str, default: str | None = None) -> str | None:
            value = e.get(name, "").strip()
            return value or default

        default_format = "console" if sys.stderr.isatty() else "json"
        urls = [u.strip() for u in (get("AFTERSALES_WEBHOOK_URLS") or "").split(",") if u.strip()]
        return cls(
            address=get("TEMPORAL_ADDRESS", "localhost:7233") or "",
            namespace=get("TEMPORAL_NAMESPACE", "default") or "",
            task_queue=get("AFTERSALES_TASK_QUEUE", "aftersales") or "",
            policy_dir=get("AFTERSALES_POLICY_DIR", "policies") or "",
            outbox_path=get("AFTERSALES_OUTBOX", ".aftersales/outbox.sqlite3") or "",
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
    """structlog for our logs and the standard library's (Temporal's), JSON in production."""
    renderer: Any = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    # JSON needs tracebacks as text; the console renderer prints them itself, prettier.
    tail: list[Any] = [structlog.processors.format_exc_info] if fmt == "json" else []
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,  # case_id and workflow_id bound by the activities
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, *tail, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Logs go to stderr, like the standard library's: stdout stays for command output.
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
