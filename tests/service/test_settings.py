"""Settings from the environment: defaults, the project folder found upwards, and wrong values named."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service import Settings
from tests.conftest import ROOT


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TEMPORAL_TLS_CERT", "TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CA", "AFTERSALES_SINK"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.example:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "shop")
    monkeypatch.setenv("TEMPORAL_API_KEY", "k")
    monkeypatch.setenv("AFTERSALES_LOG_FORMAT", "json")
    monkeypatch.setenv("AFTERSALES_OUTBOX", "/var/lib/aftersales/outbox.sqlite3")
    s = Settings.from_env()
    assert (s.address, s.namespace, s.tls, s.log_format) == ("temporal.example:7233", "shop", True, "json")
    assert s.outbox_path == "/var/lib/aftersales/outbox.sqlite3"
    d = Settings.from_env({}, cwd=ROOT / "policies" / "tests")  # from a subfolder: the project is found above
    assert (d.address, d.namespace, d.task_queue, d.policy_dir, d.sink, d.tls) == (
        "localhost:7233",
        "default",
        "aftersales",
        str(ROOT / "policies"),
        "outbox",
        False,
    )
    assert d.outbox_path == str(ROOT / ".aftersales" / "outbox.sqlite3")
    assert d.home == str(ROOT) and d.home_source.startswith("found above")
    w = Settings.from_env(
        {
            "AFTERSALES_SINK": "webhook",
            "AFTERSALES_WEBHOOK_URLS": "https://a.example/h, https://b.example/h",
            "AFTERSALES_WEBHOOK_SECRET": "x" * 32,
        }
    )
    assert w.webhook_urls == ["https://a.example/h", "https://b.example/h"]
    assert not w.webhook_allow_http and not w.webhook_allow_internal
    assert d.list_by_state and not Settings.from_env({"AFTERSALES_LIST_BY_STATE": "false"}).list_by_state


def test_log_format_defaults_to_json_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert Settings.from_env({}).log_format == "json"
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert Settings.from_env({}).log_format == "console"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AFTERSALES_SINK": "carrier-pigeon"}, "AFTERSALES_SINK"),
        ({"AFTERSALES_SINK": "webhook", "AFTERSALES_WEBHOOK_SECRET": "x"}, "WEBHOOK_URLS"),
        ({"AFTERSALES_SINK": "webhook", "AFTERSALES_WEBHOOK_URLS": "https://a.example"}, "WEBHOOK_SECRET"),
        ({"AFTERSALES_WEBHOOK_URLS": "ftp://a.example"}, "WEBHOOK_URLS"),
        ({"AFTERSALES_WEBHOOK_URLS": "http://a.example/h"}, "AFTERSALES_WEBHOOK_ALLOW_HTTP=true"),
        ({"AFTERSALES_WEBHOOK_URLS": "https://127.0.0.1/h"}, "AFTERSALES_WEBHOOK_ALLOW_INTERNAL=true"),
        ({"AFTERSALES_WEBHOOK_URLS": "https://10.1.2.3/h"}, "AFTERSALES_WEBHOOK_ALLOW_INTERNAL=true"),
        ({"AFTERSALES_WEBHOOK_URLS": "https://[::1]/h"}, "AFTERSALES_WEBHOOK_ALLOW_INTERNAL=true"),
        ({"AFTERSALES_WEBHOOK_URLS": "https://api.localhost/h"}, "AFTERSALES_WEBHOOK_ALLOW_INTERNAL=true"),
        ({"AFTERSALES_WEBHOOK_URLS": "https://169.254.169.254/h"}, "AFTERSALES_WEBHOOK_ALLOW_INTERNAL=true"),
        ({"AFTERSALES_WEBHOOK_ALLOW_HTTP": "maybe"}, "AFTERSALES_WEBHOOK_ALLOW_HTTP"),
        (
            {
                "AFTERSALES_SINK": "webhook",
                "AFTERSALES_WEBHOOK_URLS": "https://a.example",
                "AFTERSALES_WEBHOOK_SECRET": "s3cret",
            },
            "AFTERSALES_WEBHOOK_SECRET: the webhook secret must be at least 32 characters",
        ),
        ({"AFTERSALES_LOG_FORMAT": "xml"}, "AFTERSALES_LOG_FORMAT"),
        ({"AFTERSALES_LIST_BY_STATE": "sometimes"}, "AFTERSALES_LIST_BY_STATE"),
        ({"TEMPORAL_TLS_CERT": "/c.pem"}, "TEMPORAL_TLS_KEY"),
        ({"AFTERSALES_TIMEZONE": "Mars/Olympus"}, "AFTERSALES_TIMEZONE"),
        ({"AFTERSALES_HOME": "/no/such/folder"}, "AFTERSALES_HOME"),
    ],
)
def test_wrong_settings_say_which_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_data_caps_come_from_the_environment_and_are_checked() -> None:
    default = Settings.from_env({}, cwd=ROOT).data_limits
    assert (default.case_data_bytes, default.event_data_bytes, default.data_depth) == (65536, 65536, 32)
    s = Settings.from_env(
        {
            "AFTERSALES_MAX_CASE_DATA_BYTES": "100000",
            "AFTERSALES_MAX_EVENT_DATA_BYTES": "2048",
            "AFTERSALES_MAX_DATA_DEPTH": "8",
        },
        cwd=ROOT,
    ).data_limits
    assert (s.case_data_bytes, s.event_data_bytes, s.data_depth) == (100000, 2048, 8)
    for variable, value, message in (
        ("AFTERSALES_MAX_EVENT_DATA_BYTES", "64k", "AFTERSALES_MAX_EVENT_DATA_BYTES must be a whole number"),
        ("AFTERSALES_MAX_CASE_DATA_BYTES", "3000000", "AFTERSALES_MAX_CASE_DATA_BYTES must be from 1024 to 262144"),
        ("AFTERSALES_MAX_DATA_DEPTH", "1", "AFTERSALES_MAX_DATA_DEPTH must be from 2 to 100"),
    ):
        with pytest.raises(ValueError, match=message):
            Settings.from_env({variable: value}, cwd=ROOT)


def test_publication_folders_a_worker_allows_besides_its_own(tmp_path: Path) -> None:
    env = {"AFTERSALES_HOME": str(tmp_path), "AFTERSALES_PUBLISH_DIRS": f"site{os.pathsep}/srv/reports{os.pathsep}"}
    assert Settings.from_env(env).publish_dirs == (str(tmp_path / "site"), "/srv/reports")
    assert Settings.from_env({"AFTERSALES_HOME": str(tmp_path)}).publish_dirs == ()
