"""The worker's policy set: loaded at start, reloaded when the files change, last good set kept.

An operator's broken edit never reaches a case: the new set is checked whole, and if any problem is
found each one is logged as FILE:LINE:COL and the worker keeps serving the set it had.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

from policy_engine.loader import load_policy_set
from policy_engine.problems import PolicyError
from policy_engine.resolved import ResolvedPolicy
from policy_engine.selection import PolicySet

log = structlog.get_logger("aftersales.policies")

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(policy_dir: Path) -> Fingerprint:
    """Cheap change detection (path, mtime, size of every policy, calendar and template file)."""
    try:
        files = sorted(p for p in policy_dir.rglob("*") if p.suffix in (".yaml", ".yml", ".j2") and p.is_file())
    except OSError:  # a folder removed while we walked: looks changed, and the reload decides
        return ()
    out = []
    for path in files:
        try:
            st = path.stat()
        except FileNotFoundError:  # removed while we looked
            continue
        out.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(out)


class PolicySource:
    """Thread-safe: activities call `resolve` from the worker's thread pool."""

    def __init__(self, policy_dir: Path, *, check_every: float = 1.0) -> None:
        self.policy_dir = policy_dir
        self.check_every = check_every
        self._lock = threading.Lock()
        self._fingerprint = fingerprint(policy_dir)
        self._set = load_policy_set([policy_dir])  # raises PolicyError: the worker refuses to start
        self._checked = time.monotonic()
        self.rejected: Fingerprint | None = None  # the last fingerprint found invalid (logged once)

    def current(self) -> PolicySet:
        """The set serving new cases (running cases keep the policy they pinned)."""
        return self._set

    def maybe_reload(self) -> bool:
        """Reload if the files changed; True when a new set was adopted."""
        now = time.monotonic()
        if now - self._checked < self.check_every:
            return False
        with self._lock:
            self._checked = now
            seen = fingerprint(self.policy_dir)
            if seen == self._fingerprint or seen == self.rejected:
                return False
            try:
                new = load_policy_set([self.policy_dir])
            except PolicyError as exc:
                self.rejected = seen
                for problem in exc.problems:
                    log.error(str(problem), policy_dir=str(self.policy_dir))  # FILE:LINE:COL: message
                log.error(
                    "the edited policy set is invalid; still serving the last good set",
                    policy_dir=str(self.policy_dir),
                    problems=len(exc.problems),
                )
                return False
            except Exception as exc:  # a file caught mid-write, a permission change: same rule
                self.rejected = seen
                log.error(
                    "cannot reload the policies; still serving the last good set",
                    policy_dir=str(self.policy_dir),
                    error=f"{type(exc).__name__}: {exc}",
                )
                return False
            self._set, self._fingerprint, self.rejected = new, seen, None
            log.info("policies reloaded", versions={k: v.short_version for k, v in new.policies.items()})
            return True

    def resolve(self, case_type: str, data: Mapping[str, Any], opened_at: dt.datetime) -> ResolvedPolicy:
        """The policy for a new case, from fresh files; raises SelectionError when none fits."""
        self.maybe_reload()
        return self._set.select(case_type, data, opened_at)
