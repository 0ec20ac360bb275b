"""Worker and client settings from the environment, the project folder, and the Temporal connection.

One machine uses the defaults (the embedded dev server on localhost); a cluster or Temporal Cloud is
the same worker with TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and TLS or an API key set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.service import TLSConfig

from activities.webhook import check_secret, check_url
from ledger.urls import DatabaseUrlError
from ledger.urls import check_url as check_database_url
from service.codec import PAYLOAD_MODES, data_converter_for
from workflows.contract import DEFAULT_TASK_QUEUE, DataLimits

SINKS = ("outbox", "webhook")
POLICY_DIR = "policies"  # the policy folder's name in a project, and the default AFTERSALES_POLICY_DIR
LOG_FORMATS = ("json", "console")  # see service.logs
# Bounds of the policy loading child's limits: below 64 MB it cannot even start Python and the
# language; above an hour or a terabyte a limit no longer protects anything.
MIN_POLICY_LOAD_MEMORY_MB, MAX_POLICY_LOAD_MEMORY_MB = 64, 1 << 20
MAX_POLICY_LOAD_TIMEOUT = 3600
DATABASE_FILE = ".aftersales/aftersales.sqlite3"  # the default ledger, relative to the project folder
# The largest data cap a worker may set: a case carries its opening's data twice (the request and its
# state) across continue-as-new, whose whole input must stay under Temporal's 2 MB payload limit.
MAX_DATA_BYTES_CAP = 256 * 1024
MAX_DATA_DEPTH_CAP = 100


@dataclass(frozen=True)
class Settings:
    address: str = "localhost:7233"
    namespace: str = "default"
    task_queue: str = DEFAULT_TASK_QUEUE
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
    # Plain http and internal addresses (loopback, private networks) only when allowed: local testing.
    webhook_allow_http: bool = False
    webhook_allow_internal: bool = False
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
    # Backdating (README "Security model"): whether a caller's opened_at away from the server's time,
    # or a clock offset, is accepted (importing historical cases), and how far back. Off by default.
    allow_backdating: bool = False
    backdating_max_days: int = 400
    # Who may call (docs/security.md): `signed` (every open and event carries a valid token for a
    # principal of the grants file) or `open` (unsigned calls accepted: migration only).
    callers: str = "signed"
    grants_path: str = "grants.yaml"  # AFTERSALES_GRANTS, relative to the project folder
    # The worker's own key (it signs the openings of linked cases as `aftersales-worker`); every
    # worker process of a task queue needs the same one. Made on first start when missing.
    worker_key_path: str = ".aftersales/keys/aftersales-worker.pem"  # AFTERSALES_WORKER_KEY
    # Payload encryption (docs/security.md "Payload encryption"): `encrypted` (every payload in Temporal's
    # history is AES-256-GCM ciphertext under the key file's keys) or `plain` (an explicit opt-out).
    payloads: str = "encrypted"  # AFTERSALES_PAYLOADS
    codec_keys_path: str = ".aftersales/keys/codec-keys.json"  # AFTERSALES_CODEC_KEYS, relative to the project folder
    # What the child process that loads a policy set may spend before the set is refused
    # (docs/security.md, "Policy loading"): seconds of wall time, and megabytes of address space.
    policy_load_timeout: float = 30.0  # AFTERSALES_POLICY_LOAD_TIMEOUT
    policy_load_memory_mb: int = 1024  # AFTERSALES_POLICY_LOAD_MEMORY_MB
    # The case ledger's database (docs/ledger.md): an embedded SQLite file in the project folder, or
    # `postgresql+psycopg://...` for workers on several machines. AFTERSALES_DATABASE_URL.
    database_url: str = f"sqlite:///{DATABASE_FILE}"
    # Caps on what callers send (workflows.bounds): an opening's and an event's data as canonical JSON
    # (AFTERSALES_MAX_CASE_DATA_BYTES, AFTERSALES_MAX_EVENT_DATA_BYTES) and how deeply it nests
    # (AFTERSALES_MAX_DATA_DEPTH). A case pins the worker's values when it opens.
    max_case_data_bytes: int = DataLimits().case_data_bytes
    max_event_data_bytes: int = DataLimits().event_data_bytes
    max_data_depth: int = DataLimits().data_depth
    # Whether cases write their facts to the ledger (AFTERSALES_LEDGER=on|off): off for a deployment
    # without one, and for the benchmark's comparison. A case pins the value when it opens.
    ledger: bool = True
    # AFTERSALES_OUTBOX was set: the outbox stays in that SQLite file instead of the ledger's database.
    outbox_set: bool = False
    # Folders besides `<home>/published` where a publication run may write its reports
    # (AFTERSALES_PUBLISH_DIRS, separated by os.pathsep): a run names its folder, the worker decides.
    publish_dirs: tuple[str, ...] = ()

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
        for url in self.webhook_urls:
            try:
                check_url(url, allow_http=self.webhook_allow_http, allow_internal=self.webhook_allow_internal)
            except ValueError as exc:
                raise ValueError(f"AFTERSALES_WEBHOOK_URLS: {exc}") from None
        if self.sink == "webhook" and not self.webhook_secret:
            raise ValueError("AFTERSALES_SINK=webhook needs AFTERSALES_WEBHOOK_SECRET to sign the requests")
        if self.webhook_secret:
            try:
                check_secret(self.webhook_secret)
            except ValueError as exc:
                raise ValueError(f"AFTERSALES_WEBHOOK_SECRET: {exc}") from None
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
        if self.callers not in ("signed", "open"):
            raise ValueError(f"AFTERSALES_CALLERS must be signed or open, not '{self.callers}'")
        if self.backdating_max_days < 1:
            raise ValueError(f"AFTERSALES_BACKDATING_MAX_DAYS must be 1 or more, not {self.backdating_max_days}")
        if self.payloads not in PAYLOAD_MODES:
            raise ValueError(f"AFTERSALES_PAYLOADS must be {' or '.join(PAYLOAD_MODES)}, not '{self.payloads}'")
        if not 0 < self.policy_load_timeout <= MAX_POLICY_LOAD_TIMEOUT:  # NaN too
            raise ValueError(
                f"AFTERSALES_POLICY_LOAD_TIMEOUT must be seconds above 0, at most {MAX_POLICY_LOAD_TIMEOUT}"
            )
        try:
            check_database_url(self.database_url)
        except DatabaseUrlError as exc:  # its message never repeats the URL: it may hold a password
            raise ValueError(f"AFTERSALES_DATABASE_URL: {exc}") from None
        if not MIN_POLICY_LOAD_MEMORY_MB <= self.policy_load_memory_mb <= MAX_POLICY_LOAD_MEMORY_MB:
            raise ValueError(
                "AFTERSALES_POLICY_LOAD_MEMORY_MB must be whole megabytes from "
                f"{MIN_POLICY_LOAD_MEMORY_MB} to {MAX_POLICY_LOAD_MEMORY_MB}"
            )
        for variable, value in (
            ("AFTERSALES_MAX_CASE_DATA_BYTES", self.max_case_data_bytes),
            ("AFTERSALES_MAX_EVENT_DATA_BYTES", self.max_event_data_bytes),
        ):
            if not 1024 <= value <= MAX_DATA_BYTES_CAP:
                raise ValueError(f"{variable} must be from 1024 to {MAX_DATA_BYTES_CAP} bytes, not {value}")
        if not 2 <= self.max_data_depth <= MAX_DATA_DEPTH_CAP:
            raise ValueError(
                f"AFTERSALES_MAX_DATA_DEPTH must be from 2 to {MAX_DATA_DEPTH_CAP}, not {self.max_data_depth}"
            )

    @property
    def data_limits(self) -> DataLimits:
        """The caps a case pins when this worker opens it, and a client checks before sending."""
        return DataLimits(
            case_data_bytes=self.max_case_data_bytes,
            event_data_bytes=self.max_event_data_bytes,
            data_depth=self.max_data_depth,
        )

    @property
    def outbox_location(self) -> Path | str:
        """Where the worker writes effects and `aftersales outbox` reads them: the file AFTERSALES_OUTBOX
        names when it is set (a deployment keeps the outbox it had), else the ledger's database."""
        return Path(self.outbox_path) if self.outbox_set else self.database_url

    @property
    def tls(self) -> bool:
        """Temporal Cloud API keys only travel over TLS, so an API key turns TLS on."""
        return bool(self.tls_cert or self.tls_ca or self.api_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
        """Read the environment (or `env`, for tests); raises ValueError naming the wrong variable."""
        e = dict(os.environ if env is None else env)
        home, home_source = project_home(e, cwd or Path.cwd())

        def get(name: str) -> str | None:
            value = e.get(name, "").strip()
            return value or None

        def default(name: str) -> Any:
            return cls.__dataclass_fields__[name].default

        def text(variable: str, name: str) -> str:
            return get(variable) or str(default(name))

        urls = [u.strip() for u in (get("AFTERSALES_WEBHOOK_URLS") or "").split(",") if u.strip()]
        # Off a terminal (a service manager, a container) logs are JSON for collectors.
        log_format = get("AFTERSALES_LOG_FORMAT") or ("console" if sys.stderr.isatty() else "json")
        return cls(
            address=text("TEMPORAL_ADDRESS", "address"),
            namespace=text("TEMPORAL_NAMESPACE", "namespace"),
            task_queue=text("AFTERSALES_TASK_QUEUE", "task_queue"),
            policy_dir=str(home / text("AFTERSALES_POLICY_DIR", "policy_dir")),
            outbox_path=str(home / text("AFTERSALES_OUTBOX", "outbox_path")),
            home=str(home),
            home_source=home_source,
            display_timezone=text("AFTERSALES_TIMEZONE", "display_timezone"),
            sink=text("AFTERSALES_SINK", "sink").lower(),
            webhook_urls=urls,
            webhook_secret=text("AFTERSALES_WEBHOOK_SECRET", "webhook_secret"),
            webhook_allow_http=_flag(
                get("AFTERSALES_WEBHOOK_ALLOW_HTTP"), default("webhook_allow_http"), "AFTERSALES_WEBHOOK_ALLOW_HTTP"
            ),
            webhook_allow_internal=_flag(
                get("AFTERSALES_WEBHOOK_ALLOW_INTERNAL"),
                default("webhook_allow_internal"),
                "AFTERSALES_WEBHOOK_ALLOW_INTERNAL",
            ),
            tls_cert=get("TEMPORAL_TLS_CERT"),
            tls_key=get("TEMPORAL_TLS_KEY"),
            tls_ca=get("TEMPORAL_TLS_CA"),
            api_key=get("TEMPORAL_API_KEY"),
            log_format=log_format.lower(),
            deferred_reports=[x.strip() for x in (get("AFTERSALES_DEFERRED_REPORTS") or "").split(",") if x.strip()],
            list_by_state=_flag(get("AFTERSALES_LIST_BY_STATE"), default("list_by_state"), "AFTERSALES_LIST_BY_STATE"),
            callers=text("AFTERSALES_CALLERS", "callers").lower(),
            grants_path=str(home / text("AFTERSALES_GRANTS", "grants_path")),
            worker_key_path=str(home / text("AFTERSALES_WORKER_KEY", "worker_key_path")),
            **_backdating_from_env(get, default),
            payloads=text("AFTERSALES_PAYLOADS", "payloads").lower(),
            codec_keys_path=str(home / text("AFTERSALES_CODEC_KEYS", "codec_keys_path")),
            **_policy_loading_from_env(get),
            database_url=get("AFTERSALES_DATABASE_URL") or f"sqlite:///{home / DATABASE_FILE}",
            **_data_limits_from_env(get),
            ledger=_flag(get("AFTERSALES_LEDGER"), default("ledger"), "AFTERSALES_LEDGER"),
            outbox_set=get("AFTERSALES_OUTBOX") is not None,
            publish_dirs=tuple(str(home / d) for d in (get("AFTERSALES_PUBLISH_DIRS") or "").split(os.pathsep) if d),
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


def _backdating_from_env(get: Any, default: Any) -> dict[str, Any]:
    """AFTERSALES_ALLOW_BACKDATING (true/false) and AFTERSALES_BACKDATING_MAX_DAYS (whole days)."""
    allowed = _flag(get("AFTERSALES_ALLOW_BACKDATING"), default("allow_backdating"), "AFTERSALES_ALLOW_BACKDATING")
    days = get("AFTERSALES_BACKDATING_MAX_DAYS")
    if days is None:
        return {"allow_backdating": allowed}
    try:
        max_days = int(days)
    except ValueError:
        raise ValueError(f"AFTERSALES_BACKDATING_MAX_DAYS must be a whole number of days, not '{days}'") from None
    return {"allow_backdating": allowed, "backdating_max_days": max_days}


def _policy_loading_from_env(get: Any) -> dict[str, Any]:
    """AFTERSALES_POLICY_LOAD_TIMEOUT (seconds) and AFTERSALES_POLICY_LOAD_MEMORY_MB (whole megabytes)."""
    out: dict[str, Any] = {}
    timeout, memory = get("AFTERSALES_POLICY_LOAD_TIMEOUT"), get("AFTERSALES_POLICY_LOAD_MEMORY_MB")
    if timeout is not None:
        try:
            out["policy_load_timeout"] = float(timeout)
        except ValueError:
            raise ValueError(
                f"AFTERSALES_POLICY_LOAD_TIMEOUT must be seconds above 0, at most {MAX_POLICY_LOAD_TIMEOUT}"
            ) from None
    if memory is not None:
        try:
            out["policy_load_memory_mb"] = int(memory)
        except ValueError:
            raise ValueError(
                "AFTERSALES_POLICY_LOAD_MEMORY_MB must be whole megabytes from "
                f"{MIN_POLICY_LOAD_MEMORY_MB} to {MAX_POLICY_LOAD_MEMORY_MB}"
            ) from None
    return out


def _data_limits_from_env(get: Any) -> dict[str, Any]:
    """AFTERSALES_MAX_CASE_DATA_BYTES, AFTERSALES_MAX_EVENT_DATA_BYTES, AFTERSALES_MAX_DATA_DEPTH (whole numbers)."""
    limits: dict[str, Any] = {}
    for variable, name in (
        ("AFTERSALES_MAX_CASE_DATA_BYTES", "max_case_data_bytes"),
        ("AFTERSALES_MAX_EVENT_DATA_BYTES", "max_event_data_bytes"),
        ("AFTERSALES_MAX_DATA_DEPTH", "max_data_depth"),
    ):
        value = get(variable)
        if value is None:
            continue
        try:
            limits[name] = int(value)
        except ValueError:
            raise ValueError(f"{variable} must be a whole number, not '{value}'") from None
    return limits


def _flag(value: str | None, default: bool, variable: str) -> bool:
    if value is None:
        return default
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


async def connect_client(settings: Settings, data_converter: DataConverter | None = None) -> Client:
    """Connect as the settings say: plain on one machine, TLS (mutual or server-only) or an API key elsewhere.

    The payloads are encrypted with the settings' codec keys (`data_converter_for`) unless another
    converter is given (a probe that reads no payload). Raises ValueError naming an unusable file.
    """
    if data_converter is None:
        data_converter = data_converter_for(settings)
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
