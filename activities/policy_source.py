"""The worker's policy set: loaded at start, reloaded when the files change, last good set kept.

An operator's broken edit never reaches a case: the new set is checked whole, and if any problem is
found each one is logged as FILE:LINE:COL and the worker keeps serving the set it had.

Every set, the first one included, is loaded first by a child process with limits on time and
memory (activities.policy_loading): a file that would exhaust, hang or crash the loader costs a
child, never the worker, and is reported like a broken edit ("policy set not adopted: REASON").

The worker watches the folder itself (`start_watching`), so an edit is reported within a second or
two of saving it, not when the next case happens to open; `resolve` checks too, so a case opened
right after an edit gets the newest good set. While a load is in flight, `resolve` does not wait
for it (that may take the child's whole time limit): the case opens on the current good set.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog

from activities.policy_loading import CHILD_COMMAND, LoadFailed, LoadLimits, load_isolated
from policy_engine.language import PolicyError, PolicySet, ResolvedPolicy
from policy_engine.language.calendar_coverage import coverage_notes

log = structlog.get_logger("aftersales.policies")

Fingerprint = tuple[tuple[str, int, int], ...]

# Seconds between two looks at the policy folder (a few dozen stats). Half a second, because the
# child that checks a change takes most of the two seconds in which an edit is to be reported.
WATCH_EVERY = 0.5
# An editor may save in steps (truncate, then write): a change is read once the folder has looked
# the same for this long, so a half-written file is not reported as a broken edit.
SETTLE = 0.2


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


def _versions(policies: PolicySet) -> dict[str, str]:
    return {k: v.short_version for k, v in policies.policies.items()}


class PolicySource:
    """Thread-safe: activities call `resolve` from the worker's thread pool, the watcher from its thread."""

    def __init__(
        self,
        policy_dir: Path,
        *,
        check_every: float = 1.0,
        limits: LoadLimits = LoadLimits(),
        loader: Sequence[str] = CHILD_COMMAND,
    ) -> None:
        """Load the set now; raises PolicyError or LoadFailed, and the worker refuses to start.

        `limits` bound each load's child process; `loader` is its command (tests play a bad child).
        """
        self.policy_dir = policy_dir
        self.check_every = check_every
        self.limits = limits
        self.loader = tuple(loader)
        self._lock = threading.Lock()  # held for a whole load: one child at a time
        self._fingerprint = fingerprint(policy_dir)
        self._set = self._load()
        _outside_any_case(_note_coverage, self._set)
        self._checked = time.monotonic()
        self.rejected: Fingerprint | None = None  # the last fingerprint found invalid (logged once)
        self._watcher: threading.Thread | None = None
        self._stop_watching = threading.Event()

    def current(self) -> PolicySet:
        """The set serving new cases (running cases keep the policy they pinned)."""
        return self._set

    def loading(self) -> bool:
        """Whether a load is in flight (its child running, or the worker adopting what it checked)."""
        return self._lock.locked()

    def maybe_reload(self) -> bool:
        """Reload if the files changed, at most once every `check_every` seconds; True when a new set was adopted.

        Never waits for a load already in flight (the watcher's): the current set answers meanwhile.
        """
        if time.monotonic() - self._checked < self.check_every:
            return False
        return self.reload_if_changed(wait=False)

    def reload_if_changed(self, settle: float = 0.0, *, wait: bool = True) -> bool:
        """Reload now if the files changed; True when a new set was adopted.

        With `settle`, a change is read only once the files have stayed the same for that long (the
        next call tries again otherwise). Without `wait`, give up at once if another thread is loading.
        """
        self._checked = time.monotonic()
        seen = fingerprint(self.policy_dir)
        if seen in (self._fingerprint, self.rejected):
            return False
        if settle > 0:
            time.sleep(settle)
            if fingerprint(self.policy_dir) != seen:
                return False
        if not self._lock.acquire(blocking=wait):
            return False
        try:
            seen = fingerprint(self.policy_dir)
            if seen in (self._fingerprint, self.rejected):  # another thread got here first
                return False
            try:
                new = self._load()
            except Exception as exc:  # the set's problems, a child that failed, a file caught mid-write
                if fingerprint(self.policy_dir) != seen:  # changed while loading: judge the newer files
                    return False
                self.rejected = seen
                _outside_any_case(self._report_rejection, exc)
                return False
            if fingerprint(self.policy_dir) != seen:  # the copy may mix old and new files: look again
                return False
            old, was_rejected = self._set, self.rejected is not None
            self._set, self._fingerprint, self.rejected = new, seen, None
        finally:
            self._lock.release()
        _outside_any_case(self._report_reload, old, new, was_rejected)
        _outside_any_case(_note_coverage, new)
        return True

    def _load(self) -> PolicySet:
        return load_isolated(self.policy_dir, self.limits, self.loader)

    def resolve(self, case_type: str, data: Mapping[str, Any], opened_at: dt.datetime) -> ResolvedPolicy:
        """The policy for a new case; raises SelectionError when none fits.

        With the watcher running, the set it adopted (a change is adopted within about two seconds):
        a case opening never waits for a child to check a change, which a hostile file could make
        last the whole load timeout. Without it (tools, tests), the files are checked here first.
        """
        if self._watcher is None:
            self.maybe_reload()
        return self._set.select(case_type, data, opened_at)

    # --- the watcher ------------------------------------------------------------------------------

    def start_watching(self, every: float = WATCH_EVERY, settle: float = SETTLE) -> None:
        """Look at the folder every `every` seconds in a background thread, until `stop_watching`."""
        if self._watcher is not None:
            return
        self._stop_watching.clear()
        self._watcher = threading.Thread(
            target=self._watch, args=(every, settle), name="aftersales-policy-watcher", daemon=True
        )
        self._watcher.start()

    def stop_watching(self, timeout: float = 5.0) -> None:
        """Stop the watcher and wait for it (a reload in progress finishes first)."""
        watcher, self._watcher = self._watcher, None
        if watcher is None:
            return
        self._stop_watching.set()
        watcher.join(timeout)

    def _watch(self, every: float, settle: float) -> None:
        while not self._stop_watching.wait(every):
            try:
                self.reload_if_changed(settle=settle)
            except Exception as exc:  # never let the watcher die silently: say so and look again
                log.error(
                    "cannot check the policy folder; trying again",
                    policy_dir=str(self.policy_dir),
                    error=f"{type(exc).__name__}: {exc}",
                )

    # --- what the operator reads ------------------------------------------------------------------

    def _report_rejection(self, exc: Exception) -> None:
        if isinstance(exc, PolicyError):
            self._report_problems(exc)
        elif isinstance(exc, LoadFailed):
            log.error(
                f"policy set not adopted: {exc.reason}; still serving the last good set",
                policy_dir=str(self.policy_dir),
            )
        else:  # cannot happen by design; said, and the set kept, rather than the watcher dying
            self._report_failure(exc)

    def _report_problems(self, exc: PolicyError) -> None:
        for problem in exc.problems:
            log.error(str(problem))  # FILE:LINE:COL: message, as `aftersales policy validate` prints it
        log.error(
            "the edited policy set is invalid; still serving the last good set",
            policy_dir=str(self.policy_dir),
            problems=len(exc.problems),
        )

    def _report_failure(self, exc: Exception) -> None:
        log.error(
            "cannot reload the policies; still serving the last good set",
            policy_dir=str(self.policy_dir),
            error=f"{type(exc).__name__}: {exc}",
        )

    def _report_reload(self, old: PolicySet, new: PolicySet, was_rejected: bool) -> None:
        before, after = _versions(old), _versions(new)
        changed = {k: f"{before[k]} -> {v}" for k, v in after.items() if k in before and before[k] != v}
        added = {k: v for k, v in after.items() if k not in before}
        removed = sorted(k for k in before if k not in after)
        if not (changed or added or removed):
            # An edit that changes no policy (a comment, a scenario file), or a broken edit undone.
            event = "the policy set is valid again" if was_rejected else "policy files changed"
            log.info(f"{event}; the policies serving new cases are unchanged", policy_dir=str(self.policy_dir))
            return
        fields: dict[str, Any] = {"changed": changed} if changed else {}
        if added:
            fields["added"] = added
        if removed:
            fields["removed"] = removed
        log.info("policies reloaded", policy_dir=str(self.policy_dir), **fields)


def _note_coverage(policies: PolicySet) -> None:
    """Warn of calendars about to run out (policy_engine.language.calendar_coverage), by the server's date."""
    for note in coverage_notes(policies, dt.datetime.now(dt.UTC).date()):
        log.warning(f"{note.file}:{note.line}:{note.col}: warning: {note.message}")


def _outside_any_case(report: Callable[..., None], *args: Any) -> None:
    """Log in an empty context: a reload triggered by one case's `resolve` is not about that case,
    so its lines must not carry that case's case_id/workflow_id (bound in structlog's contextvars)."""
    contextvars.Context().run(report, *args)
