"""A policy set is loaded in a child process with limits; whatever the child does, the worker lives on
with its last good set and says why, and at start-up it refuses to start instead of crashing."""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

import worker
from activities.policy_loading import LoadFailed, LoadLimits, load_isolated
from activities.policy_snapshot import take_snapshot
from activities.policy_source import PolicySource
from policy_engine.language import PolicyError
from policy_engine.language.loader import display_path
from service import Settings
from tests.activities.test_activities import CALENDAR, OPENED, POLICY

NOT_ADOPTED = "policy set not adopted"
# Small enough that an alias bomb hits it within a second or two, ample for Python and the language.
SMALL_MEMORY = LoadLimits(timeout=60, memory_mb=256)


def _child(script: str) -> list[str]:
    """A loader command that plays a child doing `script` (it gets the real child's arguments)."""
    return [sys.executable, "-c", script]


SLEEPS = _child("import time; time.sleep(120)")
SEGFAULTS = _child("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")


def _alias_bomb() -> str:
    """Nine levels of nine aliases: 387 million strings once expanded ("billion laughs")."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def _deep_nesting(depth: int = 50_000) -> str:
    return "policies: " + "[" * depth + "]" * depth + "\n"


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    (folder / "calendars").mkdir(parents=True)
    (folder / "calendars" / "test-cal.yaml").write_text(CALENDAR, encoding="utf-8")
    (folder / "gift.yaml").write_text(POLICY, encoding="utf-8")
    return folder


def _version(source: PolicySource) -> str:
    return source.current().policies["gift-default"].version


def _edit(policy_dir: Path, hours: int = 72) -> None:
    """A valid edit: the gift's timer changes, so does its version."""
    (policy_dir / "gift.yaml").write_text(POLICY.replace("after: 48h", f"after: {hours}h"), encoding="utf-8")


def _errors(logs: list[dict[str, Any]]) -> list[str]:
    return [e["event"] for e in logs if e["log_level"] == "error"]


def _wait_for(found: Callable[[], bool], what: str, within: float = 30.0) -> None:
    """Wait for something a background thread does; the deadline only keeps a broken test from hanging."""
    deadline = time.monotonic() + within
    while not found():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


# --- adopted, or refused with the operator's file named ---------------------------------------------


def test_a_valid_edit_is_adopted_through_the_child(policy_dir: Path) -> None:
    source = PolicySource(policy_dir, check_every=0)
    before = _version(source)
    _edit(policy_dir)
    with capture_logs() as logs:
        assert source.maybe_reload() is True
    assert _version(source) != before
    assert source.resolve("gift", {"amount": 1}, OPENED).version == _version(source)
    assert [e["event"] for e in logs] == ["policies reloaded"]


def test_problems_name_the_operators_files_not_the_copy(policy_dir: Path) -> None:
    source = PolicySource(policy_dir, check_every=0)
    broken = POLICY.replace("goto: done\n      done:", "goto: dne\n      done:")
    (policy_dir / "gift.yaml").write_text(broken, encoding="utf-8")
    with capture_logs() as logs:
        assert source.maybe_reload() is False
    where = display_path(policy_dir / "gift.yaml")
    assert f"{where}:21:19: unknown state 'dne'; did you mean 'done'?" in _errors(logs), logs


def test_a_problem_that_names_another_place_names_the_operators_file(policy_dir: Path) -> None:
    (policy_dir / "again.yaml").write_text(POLICY, encoding="utf-8")  # the same policy id twice
    with pytest.raises(PolicyError) as info:
        load_isolated(policy_dir)
    said = "\n".join(str(p) for p in info.value.problems)
    assert "already used at " + display_path(policy_dir) in said, said
    assert "aftersales-policies-" not in said, said  # the private copy's folder


def test_the_copy_is_private_and_removed_after_use(policy_dir: Path) -> None:
    with take_snapshot(policy_dir) as snapshot:
        assert stat.S_IMODE(snapshot.root.parent.stat().st_mode) == 0o700
        assert (snapshot.root / "gift.yaml").read_bytes() == (policy_dir / "gift.yaml").read_bytes()
        assert (snapshot.root / "calendars" / "test-cal.yaml").is_file()
    assert not snapshot.root.parent.exists()


def test_a_file_that_is_not_a_regular_file_is_refused_not_waited_for(policy_dir: Path) -> None:
    fifo = policy_dir / "pipe.yaml"
    os.mkfifo(fifo)  # reading it would wait for a writer forever
    with pytest.raises(PolicyError) as info:
        load_isolated(policy_dir)
    assert [str(p) for p in info.value.problems] == [f"{display_path(fifo)}:1:1: not a regular file"]


# --- a child that misbehaves: the last good set serves, the reason is logged once --------------------


@pytest.mark.parametrize(
    ("loader", "reason"),
    [
        (SLEEPS, "loading took longer than 1 s"),
        (SEGFAULTS, "the loader was killed by signal SIGSEGV"),
        (_child("import os; os.kill(os.getpid(), 9)"), "the loader was killed by signal SIGKILL"),
        (_child("print('hello, worker')"), "the loader's answer is not a verdict"),
        (_child('print(\'{"ok": false, "problems": [{"file": 1}]}\')'), "the loader's answer is not a verdict"),
        (_child("raise SystemExit(7)"), "the loader exited with status 7"),
    ],
    ids=["too-slow", "segfault", "sigkill", "garbage", "bad-problem", "exit-7"],
)
def test_a_misbehaving_child_keeps_the_last_good_set(policy_dir: Path, loader: list[str], reason: str) -> None:
    source = PolicySource(policy_dir, check_every=0)
    before = _version(source)
    source.loader = tuple(loader)
    if loader is SLEEPS:  # the others get the default 30 s: ample for a slow machine to start Python
        source.limits = LoadLimits(timeout=1)
    _edit(policy_dir)
    with capture_logs() as logs:
        assert source.maybe_reload() is False
        assert source.maybe_reload() is False  # the same state is not tried, nor reported, again
    assert _errors(logs) == [f"{NOT_ADOPTED}: {reason}; still serving the last good set"]
    assert logs[0]["policy_dir"] == str(policy_dir)
    assert _version(source) == before
    assert source.resolve("gift", {"amount": 1}, OPENED).version == before


def test_an_alias_bomb_is_not_adopted(policy_dir: Path) -> None:
    source = PolicySource(policy_dir, check_every=0, limits=SMALL_MEMORY)
    before = _version(source)
    (policy_dir / "bomb.yaml").write_text(_alias_bomb(), encoding="utf-8")
    with capture_logs() as logs:
        assert source.maybe_reload() is False
    said = "\n".join(_errors(logs))
    # Here the child runs out of memory; where the YAML loader limits aliases itself, the file is refused.
    assert "the loader ran out of its 256 MB" in said or "bomb.yaml:" in said, said
    assert "still serving the last good set" in said
    assert _version(source) == before


def test_very_deep_nesting_is_not_adopted(policy_dir: Path) -> None:
    source = PolicySource(policy_dir, check_every=0)
    before = _version(source)
    (policy_dir / "deep.yaml").write_text(_deep_nesting(), encoding="utf-8")
    with capture_logs() as logs:
        assert source.maybe_reload() is False
    said = "\n".join(_errors(logs))
    # LibYAML crashes on it here; where the YAML loader limits nesting itself, the file is refused.
    assert "the loader was killed by signal SIGSEGV" in said or "deep.yaml:" in said, said
    assert "still serving the last good set" in said
    assert _version(source) == before
    (policy_dir / "deep.yaml").unlink()  # the operator removes it and edits: the worker still adopts edits
    _edit(policy_dir)
    assert source.maybe_reload() is True
    assert _version(source) != before


# --- at start-up: refuse, never crash -----------------------------------------------------------------


def test_a_set_that_cannot_be_loaded_at_start_is_a_load_failure(policy_dir: Path) -> None:
    with pytest.raises(LoadFailed) as info:
        PolicySource(policy_dir, loader=SEGFAULTS)
    assert info.value.reason == "the loader was killed by signal SIGSEGV"


async def test_the_worker_refuses_to_start_on_a_set_it_cannot_load(
    policy_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker, "configure_logging", lambda _format: None)  # keep the session's logging
    (policy_dir / "bomb.yaml").write_text(_alias_bomb(), encoding="utf-8")
    settings = Settings(policy_dir=str(policy_dir), log_format="console", policy_load_memory_mb=256)
    with capture_logs() as logs:
        assert await worker.run_worker(settings) == 1
    said = capsys.readouterr()
    text = said.out + said.err + "\n".join(_errors(logs))
    # Here the child runs out of memory; where the YAML loader limits aliases itself, the file is refused.
    out_of_memory = f"refusing to start: {NOT_ADOPTED} from {policy_dir}: the loader ran out of its 256 MB"
    assert out_of_memory in text or "bomb.yaml:" in text, text


# --- the watcher ----------------------------------------------------------------------------------------


def test_the_watcher_reports_a_failed_load_without_a_case(policy_dir: Path) -> None:
    source = PolicySource(policy_dir)
    before = _version(source)
    source.loader = tuple(SEGFAULTS)
    source.start_watching(every=0.1, settle=0.05)
    try:
        # A case being served on this thread binds its ids: the watcher's lines must not carry them.
        with (
            capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs,
            structlog.contextvars.bound_contextvars(case_id="R-9", workflow_id="case-R-9"),
        ):
            _edit(policy_dir)
            _wait_for(lambda: any(NOT_ADOPTED in e["event"] for e in list(logs)), "the failed load logged")
    finally:
        source.stop_watching()
    (line,) = [e for e in logs if NOT_ADOPTED in e["event"]]
    assert "killed by signal SIGSEGV" in line["event"] and line["policy_dir"] == str(policy_dir)
    assert "case_id" not in line and "workflow_id" not in line, line
    assert _version(source) == before


def test_a_case_opening_does_not_wait_for_a_load_in_flight(policy_dir: Path, tmp_path: Path) -> None:
    source = PolicySource(policy_dir, check_every=0)
    before = _version(source)
    go = tmp_path / "go"  # the played child answers once this file exists
    source.loader = tuple(
        _child(f"import os, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.02)\nprint('{{\"ok\": true}}')")
    )
    source.start_watching(every=0.1, settle=0.05)
    try:
        with capture_logs() as logs:
            _edit(policy_dir)
            _wait_for(source.loading, "the watcher started loading")
            # A case opens meanwhile: it gets the current good set, and the load is still in flight.
            assert source.resolve("gift", {"amount": 1}, OPENED).version == before
            assert source.loading()
            go.touch()
            _wait_for(lambda: any(e["event"] == "policies reloaded" for e in list(logs)), "the edit adopted")
    finally:
        source.stop_watching()
    assert _version(source) != before


# --- settings -----------------------------------------------------------------------------------------


def test_the_limits_are_settings() -> None:
    default = Settings.from_env({})
    assert (default.policy_load_timeout, default.policy_load_memory_mb) == (30.0, 1024)
    settings = Settings.from_env({"AFTERSALES_POLICY_LOAD_TIMEOUT": "5.5", "AFTERSALES_POLICY_LOAD_MEMORY_MB": "512"})
    assert (settings.policy_load_timeout, settings.policy_load_memory_mb) == (5.5, 512)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AFTERSALES_POLICY_LOAD_TIMEOUT", "0"),
        ("AFTERSALES_POLICY_LOAD_TIMEOUT", "soon"),
        ("AFTERSALES_POLICY_LOAD_TIMEOUT", "nan"),
        ("AFTERSALES_POLICY_LOAD_MEMORY_MB", "16"),
        ("AFTERSALES_POLICY_LOAD_MEMORY_MB", "1.5"),
    ],
)
def test_a_wrong_limit_names_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ValueError, match=f"^{variable} must be") as info:
        Settings.from_env({variable: value})
    assert f"'{value}'" not in str(info.value)
