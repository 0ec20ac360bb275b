"""A file replaced in one rename: a reader sees the old file or the new one, never part of either, and
a crash leaves the old one in place (the new text is on disk before it takes the name)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from service.private_files import PRIVATE_FILE_MODE


def write_atomically(path: Path, text: str, mode: int = PRIVATE_FILE_MODE) -> None:
    """Replace `path` with `text`, as a file of `mode` (owner-only unless said) from the moment it has the name."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
