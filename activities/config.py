"""Worker and client settings from the environment, the Temporal connection, and logging.

One machine uses the defaults (the embedded dev server on localhost); a cluster or Temporal Cloud is
the same worker with TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and TLS or an API key set.
"""

from __future__ import annotations

import logging
import os
import sys
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

    def __post_init__(self) -> None:
        if self.sink not in SINKS:
            raise ValueError(f"AFTERSALES_SINK must be one of {', '.join(SINKS)}, not '{self.sink}'")
        if self.sink == "webhook" and not self.webhook_urls:
            raise ValueError("AFTERSALES_SINK=webhook needs AFTERSALES_WEBHOOK_URLS (comma separated)")
        if self.sink == "webhook" and not self.webhook_secret:
            raise ValueError("AFTERSALES_SINK=webhook needs AFTERSALES_WEBHOOK_SECRET to sign the requests")
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"AFTERSALES_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not '{self.log_format}'")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (mutual TLS)")

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert or self.tls_ca or self.api_key)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
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
            sink=get("AFTERSALES_SINK", "outbox") or "",
            webhook_urls=urls,
            webhook_secret=get("AFTERSALES_WEBHOOK_SECRET", "") or "",
            tls_cert=get("TEMPORAL_TLS_CERT"),
            tls_key=get("TEMPORAL_TLS_KEY"),
            tls_ca=get("TEMPORAL_TLS_CA"),
            api_key=get("TEMPORAL_API_KEY"),
            log_format=get("AFTERSALES_LOG_FORMAT", default_format) or default_format,
            deferred_reports=[x.strip() for x in (get("AFTERSALES_DEFERRED_REPORTS") or "").split(",") if x.strip()],
        )


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


async def connect_client(settings: Settings, data_converter: DataConverter) -> Client:
    tls: bool | TLSConfig = False
    if settings.tls:
        tls = TLSConfig(
            server_root_ca_cert=_read(settings.tls_ca),
            client_cert=_read(settings.tls_cert),
            client_private_key=_read(settings.tls_key),
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
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,  # case_id and workflow_id bound by the activities
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(processor=renderer, foreign_pre_chain=shared))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
