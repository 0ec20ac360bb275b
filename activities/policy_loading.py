"""Load a policy folder for the worker without letting the files harm it.

A policy file is operator input: a YAML alias bomb can take gigabytes and minutes, very deep nesting
crashes LibYAML (a segfault, not an exception), and the next bug of the language may loop forever.
Parsed in the worker, one such file would freeze or kill every worker, again at each restart.

So the folder is first copied into a private snapshot (activities.policy_snapshot), and a child
process (`python -m activities.policy_check`) loads that snapshot with a wall-time limit and a memory
limit. The child answers with plain JSON: yes, or the problems as file/line/col/message. Only on a yes
does the worker load the same snapshot itself, so it adopts exactly the bytes the child checked and
never parses anything a child has not survived. Whatever else the child does (runs out of time or
memory, dies of a signal, exits or answers otherwise) raises `LoadFailed` with a reason for the
operator, and the worker keeps the set it has. The child is started fresh (`subprocess`, never a
fork: the worker has threads and an event loop).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activities import policy_check
from activities.policy_snapshot import take_snapshot
from policy_engine.language import PolicyError, PolicySet, Problem, load_policy_set

# Where the `activities` package is, for the child to import it (and the language) as the worker does.
PROJECT_ROOT = Path(policy_check.__file__).resolve().parent.parent
CHILD_COMMAND = (sys.executable, "-P", "-m", "activities.policy_check")
VERDICT_LIMIT = 1 << 20  # bytes; a verdict is a list of problems, far less than this


@dataclass(frozen=True)
class LoadLimits:
    """What a child may spend on one load (AFTERSALES_POLICY_LOAD_TIMEOUT, AFTERSALES_POLICY_LOAD_MEMORY_MB)."""

    timeout: float = 30.0  # seconds of wall time
    memory_mb: int = 1024  # address space


class LoadFailed(Exception):
    """The child gave no verdict on the set; `reason` says what happened, for the operator."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def load_isolated(
    policy_dir: Path, limits: LoadLimits = LoadLimits(), command: Sequence[str] = CHILD_COMMAND
) -> PolicySet:
    """The set in `policy_dir`, once a child loaded it within `limits`.

    Raises PolicyError (the problems, naming the operator's files) or LoadFailed. `command` runs the
    child; tests pass another one to play a child that misbehaves.
    """
    with take_snapshot(policy_dir) as snapshot:
        problems = check_in_child(snapshot.root, limits, command)
        if problems:
            raise PolicyError([snapshot.real_problem(p) for p in problems])
        try:
            loaded = load_policy_set([snapshot.root])
        except PolicyError as exc:  # not expected after the child's yes, but named as the operator's files
            raise PolicyError([snapshot.real_problem(p) for p in exc.problems]) from None
        # Places in the set name the operator's files too, not the snapshot's copies.
        years_at = {name: snapshot.real_problem(at) for name, at in loaded.calendar_years_at.items()}
        return dataclasses.replace(loaded, calendar_years_at=years_at)


def check_in_child(folder: Path, limits: LoadLimits, command: Sequence[str] = CHILD_COMMAND) -> list[Problem]:
    """The problems a child finds in `folder` (none: the set loads); raises LoadFailed without a verdict."""
    cpu_backstop = int(limits.timeout) + 5  # the wall-time limit below acts first while the worker lives
    args = [*command, str(limits.memory_mb), str(cpu_backstop), str(folder)]
    try:
        done = subprocess.run(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # no stray text in the worker's log; the verdict says what matters
            env=_child_env(),
            timeout=limits.timeout,
            check=False,
            start_new_session=True,  # a Ctrl-C meant for the worker is the worker's to handle
        )
    except subprocess.TimeoutExpired:  # the child is killed and reaped by `run`
        raise LoadFailed(f"loading took longer than {limits.timeout:g} s") from None
    except OSError as exc:
        raise LoadFailed(f"the loader could not start: {exc.strerror or exc}") from None
    if done.returncode < 0:
        raise LoadFailed(f"the loader was killed by signal {_signal_name(-done.returncode)}")
    if done.returncode == policy_check.OUT_OF_MEMORY:
        raise LoadFailed(f"the loader ran out of its {limits.memory_mb} MB")
    if done.returncode != 0:
        raise LoadFailed(f"the loader exited with status {done.returncode}")
    return _verdict(done.stdout)


def _verdict(out: bytes) -> list[Problem]:
    """The problems in the child's answer; LoadFailed when it is not a verdict."""
    try:
        verdict: Any = json.loads(out[:VERDICT_LIMIT])
        if verdict["ok"] is True:
            return []
        if "failure" in verdict:
            raise LoadFailed(f"the loader failed with {str(verdict['failure'])[:80]}")
        problems = [_problem(p) for p in verdict["problems"]]
    except (ValueError, KeyError, TypeError):
        raise LoadFailed("the loader's answer is not a verdict") from None
    if not problems:  # "not ok" with nothing wrong is no answer
        raise LoadFailed("the loader's answer is not a verdict")
    return problems


def _problem(data: Any) -> Problem:
    file, line, col, message = data["file"], data["line"], data["col"], data["message"]
    if not (isinstance(file, str) and isinstance(line, int) and isinstance(col, int) and isinstance(message, str)):
        raise TypeError("a problem is file, line, col, message")
    return Problem(file, line, col, message)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _child_env() -> dict[str, str]:
    """The worker's environment, with the project importable first (as the worker imports it)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    return env
