"""The worker's grants, picked up again when the file changes, the last good set kept.

A look costs one `stat`; the file is read only when its mtime, size or inode changed, and checked
only when its SHA-256 changed too (a `touch` reads it, but does not check or log anything). A broken
edit is logged once, each problem as FILE:LINE:COL, and the grants in force stay those of the last
good file; a file that disappears keeps them too (an emptied `principals:` is how everyone is refused).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import structlog

from policy_engine.language.problems import Problem
from service.identity.grants import Grants, GrantsError, parse_grants

log = structlog.get_logger("aftersales.grants")

Stat = tuple[int, int, int]  # mtime_ns, size, inode
CaseTypes = Collection[str] | Callable[[], Collection[str] | None] | None


@dataclass(frozen=True)
class GrantsCheck:
    """What one look at the file found: whether the grants in force changed, and any problems."""

    changed: bool
    grants: Grants
    problems: tuple[Problem, ...] = ()
    message: str = ""


class GrantsWatcher:
    """Thread-safe. `check()` looks at the file; `current()` is the grants in force (deny all until a
    good file was read)."""

    def __init__(self, path: Path, *, case_types: CaseTypes = None, strict: bool = False) -> None:
        """`case_types`: the policies' case types (or a function giving the current ones) to check
        `open_types` against. `strict`: raise GrantsError if the file is invalid now (a worker that
        refuses to start), instead of starting with no grants and saying so."""
        self.path = path
        self._case_types = case_types
        self._lock = threading.Lock()
        self._grants = Grants(source=str(path))
        self._stat: Stat | None = None
        self._digest: str | None = None  # of the last file read, good or not
        self._loaded = False
        self._said_missing = False
        self._unreadable_said: Problem | None = None
        first = self.check()
        if strict and first.problems:
            raise GrantsError(list(first.problems))

    def current(self) -> Grants:
        return self._grants

    def check(self) -> GrantsCheck:
        """Reload if the file changed. Never raises: problems are returned and logged."""
        with self._lock:
            try:
                st = self.path.stat()
            except FileNotFoundError:
                return self._missing()
            except OSError as exc:
                return self._unreadable(exc)
            self._said_missing = False
            seen: Stat = (st.st_mtime_ns, st.st_size, st.st_ino)
            if seen == self._stat:
                return GrantsCheck(False, self._grants)
            try:
                raw = self.path.read_bytes()
            except OSError as exc:
                return self._unreadable(exc)
            self._stat, self._unreadable_said = seen, None
            digest = hashlib.sha256(raw).hexdigest()
            if digest == self._digest:
                return GrantsCheck(False, self._grants)  # touched or rewritten the same
            self._digest = digest
            try:
                new = parse_grants(raw, str(self.path), base_dir=self.path.parent, case_types=self._types())
            except GrantsError as exc:
                return self._keep(exc.problems)
            was_loaded, self._loaded, self._grants = self._loaded, True, new
            message = "grants reloaded" if was_loaded else "grants loaded"
            log.info(message, grants=str(self.path), principals=len(new), digest=new.digest[:12])
            return GrantsCheck(True, new, (), message)

    def _types(self) -> Collection[str] | None:
        return self._case_types() if callable(self._case_types) else self._case_types

    def _keep(self, problems: list[Problem]) -> GrantsCheck:
        for problem in problems:
            log.error(str(problem))  # as `aftersales grants validate` prints it
        if self._loaded:
            message = "the grants file is invalid; still using the last good grants"
        else:
            message = "the grants file is invalid; every caller is refused until it is fixed"
        log.error(message, grants=str(self.path), problems=len(problems))
        return GrantsCheck(False, self._grants, tuple(problems), message)

    def _unreadable(self, exc: OSError) -> GrantsCheck:
        """A file that cannot be read (its permissions): reported once, and read again once it can be."""
        self._stat, self._digest = None, None
        problem = Problem(str(self.path), 1, 1, f"cannot read file: {exc.strerror or exc}")
        if problem == self._unreadable_said:
            return GrantsCheck(False, self._grants, (problem,), "")
        self._unreadable_said = problem
        return self._keep([problem])

    def _missing(self) -> GrantsCheck:
        self._stat = None
        if self._loaded:
            message = "the grants file is gone; still using the last good grants"
        else:
            message = "no grants file; every caller is refused until one grants something"
        if not self._said_missing:  # once, not at every look
            log.warning(message, grants=str(self.path))
            self._said_missing = True
        return GrantsCheck(False, self._grants, (), message)
