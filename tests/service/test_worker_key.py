"""The worker's own key: made once, owner-only, and the same for every process that reads it."""

from __future__ import annotations

import stat
from pathlib import Path

from service.identity.keys import public_pem
from worker import worker_key


def test_the_worker_key_is_made_once_and_shared(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "aftersales-worker.pem"
    first = worker_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = worker_key(path)  # a second worker process on the same task queue
    assert public_pem(again) == public_pem(first)
