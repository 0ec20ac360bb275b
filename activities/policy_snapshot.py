"""A private copy of a policy folder: what the child process checks is what the worker adopts.

The operator's folder can change at any moment (an editor saving, `publish` swapping folders). If
the child read the folder and the worker then read it again, the worker could adopt files that no
child ever checked. So the files are copied once into a folder only this user can open (0700), the
child loads the copy, and the worker loads the same copy after the child said yes.

The copy keeps the folder's layout and name, so the loader sees the same set; problems found in it
are renamed back to the operator's files (`Snapshot.real_problem`), so that `FILE:LINE:COL` names
the file the operator edits, never the copy.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path
from types import TracebackType

from policy_engine.language import PolicyError, Problem
from policy_engine.language.loader import display_path

# The files a policy set is made of (policies, calendars, templates), as the watcher fingerprints them.
POLICY_SUFFIXES = (".yaml", ".yml", ".j2")


class Snapshot:
    """The copy of `source` at `root`; a context manager that removes the copy when done."""

    def __init__(self, source: Path, root: Path) -> None:
        self.source = source
        self.root = root

    def real_problem(self, problem: Problem) -> Problem:
        """The same problem, naming the operator's file instead of its copy (in the message too)."""
        copy_name, real_name = display_path(self.root), display_path(self.source)
        return Problem(
            self._real_file(problem.file),
            problem.line,
            problem.col,
            problem.message.replace(copy_name, real_name),  # "already used at FILE:LINE" and the like
        )

    def _real_file(self, file: str) -> str:
        full = Path(os.path.normpath(Path.cwd() / file))
        if not full.is_relative_to(self.root):
            return file
        return display_path(self.source / full.relative_to(self.root))

    def __enter__(self) -> Snapshot:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        shutil.rmtree(self.root.parent, ignore_errors=True)


def take_snapshot(policy_dir: Path) -> Snapshot:
    """Copy the policy files of `policy_dir`; raises PolicyError when the folder or a file cannot be read.

    Symbolic links to files are copied as the files they point to; linked folders are not entered,
    as the loader does not enter them either.
    """
    if not policy_dir.is_dir():
        raise PolicyError([Problem(display_path(policy_dir), 1, 1, "no such file or folder")])
    private = Path(tempfile.mkdtemp(prefix="aftersales-policies-"))  # mode 0700
    root = private / (policy_dir.name or "policies")
    try:
        for folder, _dirs, files in os.walk(policy_dir):
            for name in files:
                if name.endswith(POLICY_SUFFIXES):
                    original = Path(folder) / name
                    copy = root / original.relative_to(policy_dir)
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    _copy(original, copy)
        root.mkdir(exist_ok=True)  # a folder without policy files: the loader says what is missing
    except BaseException:
        shutil.rmtree(private, ignore_errors=True)
        raise
    return Snapshot(policy_dir, root)


def _copy(original: Path, copy: Path) -> None:
    """Copy one file, streamed (a huge file costs disk, not the worker's memory); only regular files."""
    try:
        if not stat.S_ISREG(original.stat().st_mode):  # a FIFO or a device would block or never end
            raise PolicyError([Problem(display_path(original), 1, 1, "not a regular file")])
        shutil.copyfile(original, copy)
    except OSError as exc:  # unreadable, a dangling link, removed since the walk (the caller looks again)
        raise PolicyError([Problem(display_path(original), 1, 1, f"cannot read file: {exc.strerror or exc}")]) from None
