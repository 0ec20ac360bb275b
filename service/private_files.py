"""Files that hold case data (the outbox, the dev server's database and log) are their owner's only.

New ones are created 0600; an existing one that group or others may read is tightened to 0600 and
reported, so that the process can say so (a copy may already have been read).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PRIVATE_FILE_MODE = 0o600


@dataclass(frozen=True)
class Tightened:
    path: Path
    was: int  # the mode it had
    done: bool  # False: not ours to change (another user's file); it stays readable

    def __str__(self) -> str:
        if self.done:
            return f"{self.path} was readable by group or others (mode {self.was:04o}); now 0600"
        return f"{self.path} is readable by group or others (mode {self.was:04o}) and cannot be changed here"


def create_private(path: Path) -> None:
    """Create `path` empty and owner-only if it does not exist (so that what writes it later keeps 0600)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))


def tighten(paths: Iterable[Path]) -> list[Tightened]:
    """Make each existing file of `paths` owner-only; the ones that were not."""
    found: list[Tightened] = []
    for path in paths:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if not mode & 0o077:
            continue
        try:
            os.chmod(path, PRIVATE_FILE_MODE)
        except PermissionError:
            found.append(Tightened(path, mode, done=False))
        else:
            found.append(Tightened(path, mode, done=True))
    return found


def sqlite_files(database: Path) -> list[Path]:
    """A SQLite database and the files beside it that hold its recent writes (WAL mode, rollback)."""
    return [database, *(database.with_name(database.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]
