"""Logging: structlog for our logs, the standard library's and the Temporal SDK's.

Readable console lines in development, one JSON object per line in production; `case_id` and
`workflow_id` bound by the activities, the SDK's workflow and activity context as fields.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

import structlog
import temporalio.activity
import temporalio.workflow
from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter


def configure_logging(fmt: str = "console", level: int = logging.INFO) -> None:
    """structlog for our logs, the standard library's and the Temporal SDK's: JSON lines in
    production, one readable line per event on a terminal (the same fields either way)."""
    structlog.configure(
        # Our events are handed to the standard library's handler, rendered there by the same
        # formatter as the SDK's records: one writer, one lock, so a line from one thread is never
        # cut into by another's (two writers to stderr interleaved JSON lines under load).
        processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    # Logs go to stderr: stdout stays for command output.
    handler = logging.StreamHandler(sys.stderr)
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
