"""Pinned policies, rebuilt once per process per version.

A case carries its policy's content; rebuilding and re-hashing it on every workflow task would be
wasted work, so the first rebuild of a version is kept. The version is the content's SHA-256, checked
on that first rebuild, so two contents can never share an entry.
"""

from __future__ import annotations

import threading
from typing import Any

from policy_engine.language.resolved import ResolvedPolicy

_CACHE: dict[str, ResolvedPolicy] = {}
_LOCK = threading.Lock()
_MAX_ENTRIES = 256


def pinned_policy(version: str, content: dict[str, Any]) -> ResolvedPolicy:
    cached = _CACHE.get(version)
    if cached is not None:
        return cached
    resolved = ResolvedPolicy.from_content(content, version)
    with _LOCK:
        if len(_CACHE) >= _MAX_ENTRIES:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[version] = resolved
    return resolved


def remember(resolved: ResolvedPolicy) -> None:
    """Policies the worker just resolved from files need no rebuild when the workflow asks."""
    with _LOCK:
        _CACHE.setdefault(resolved.version, resolved)
