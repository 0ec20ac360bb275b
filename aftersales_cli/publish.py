"""Publishing a draft policy folder: checked as a copy, then swapped in whole, the old set kept.

The operator edits a draft (a copy of the live folder), then `aftersales policy publish DRAFT`:
1. copies the draft next to the live folder (so a later edit of the draft cannot slip in between
   the checks and the swap, and the swap stays on one file system);
2. validates the copy and runs its policy tests; any problem or failing test stops here, and the
   live folder is untouched;
3. exchanges the copy and the live folder in one atomic rename (Linux `renameat2` with
   RENAME_EXCHANGE), so a worker reading the folder sees the old set or the new one, never a mix;
   elsewhere two renames, with a moment where the folder is missing (the worker keeps its last good
   set through it);
4. keeps the previous set under `.aftersales/policy-history/` for a rollback (publish it again).
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import errno
import fcntl
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
HISTORY_DIR = Path(".aftersales") / "policy-history"


class PublishError(Exception):
    """Publishing cannot go on; the live folder is unchanged."""


@dataclass(frozen=True)
class Staged:
    """A checked-out copy of the draft, beside the live folder, waiting to be swapped in."""

    live: Path
    copy: Path


def stage(draft: Path, live: Path) -> Staged:
    """Copy the draft beside the live folder (same parent, so the swap is one rename)."""
    if not draft.is_dir():
        raise PublishError(f"{draft}: no such folder (make one with `aftersales policy draft {draft}`)")
    if not live.is_dir():
        raise PublishError(f"{live}: the live policy folder does not exist")
    if draft.resolve() == live.resolve():
        raise PublishError(f"{draft} is the live folder itself: publish a draft (`aftersales policy draft`)")
    if draft.resolve().is_relative_to(live.resolve()) or live.resolve().is_relative_to(draft.resolve()):
        raise PublishError(f"{draft} and the live folder {live} are inside one another: keep the draft beside it")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    copy = live.parent / f".{live.name}.publishing-{stamp}"
    shutil.copytree(draft, copy, ignore=shutil.ignore_patterns(".*", "__pycache__"))
    return Staged(live=live, copy=copy)


def discard(staged: Staged) -> None:
    shutil.rmtree(staged.copy, ignore_errors=True)


def swap_in(staged: Staged, home: Path) -> Path:
    """Make the staged copy the live folder; return where the previous set is kept."""
    history = home / HISTORY_DIR
    history.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = _unused(history / stamp)
    if _exchange(staged.live, staged.copy):
        # The copy's path now holds the previous set.
        shutil.move(str(staged.copy), kept)
        return kept
    # No atomic exchange here: two renames, the folder missing for a moment in between.
    aside = staged.live.parent / f".{staged.live.name}.previous-{stamp}"
    os.rename(staged.live, aside)
    try:
        os.rename(staged.copy, staged.live)
    except OSError:
        os.rename(aside, staged.live)  # put the live set back before reporting
        raise
    shutil.move(str(aside), kept)
    return kept


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False  # the file system or kernel does not support the exchange
    raise OSError(err, os.strerror(err), str(a))


def _unused(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


@contextlib.contextmanager
def publishing_lock(home: Path) -> Iterator[None]:
    """One publish at a time per project: a second one waits for nothing and says so."""
    lock_path = home / ".aftersales" / "publish.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PublishError("another publish is running in this project; try again when it has finished") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def make_draft(live: Path, draft: Path) -> None:
    """A draft starts as a copy of the live folder."""
    if draft.exists():
        raise PublishError(f"{draft} already exists: edit it, or give another folder")
    if not live.is_dir():
        raise PublishError(f"{live}: the live policy folder does not exist")
    if draft.resolve().is_relative_to(live.resolve()):
        raise PublishError(f"{draft} is inside the live folder {live}: make the draft beside it")
    shutil.copytree(live, draft, ignore=shutil.ignore_patterns(".*", "__pycache__"))
