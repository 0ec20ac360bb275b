"""The digest of data the engine does not keep: what a refused event carried, as SHA-256 and a size.

A refused event is in the timeline for the audit (who sent what, when, why it was refused), but its
data is not: any caller could otherwise grow a case's history with data the case refused. The
digest still lets an auditor check that a given payload is the one refused: it is the SHA-256 of
the data's canonical JSON, the same bytes as Python's

    json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

for JSON data. Data that JSON cannot hold (it was refused for that, often) still has a digest:
NaN and infinities are written `NaN`, `Infinity`, `-Infinity` (as Python's json does), a key that
is not text as its text, any other value as the JSON string of its text, and an integer too long
for decimal text as its hexadecimal text. The walk is iterative, so any depth has a digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, NamedTuple


class Digest(NamedTuple):
    sha256: str  # hexadecimal
    size: int  # bytes of the canonical JSON


class _Text(str):
    """Canonical text already written (punctuation, a key), as opposed to a value still to write."""


def canonical_json(data: Any) -> bytes:
    """The data's canonical JSON (keys sorted, no spaces, UTF-8), for any data and any depth."""
    out: list[str] = []
    pending: list[Any] = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, _Text):
            out.append(value)
        elif isinstance(value, Mapping):
            items = sorted(((str(key), item) for key, item in value.items()), key=lambda pair: pair[0])
            parts: list[Any] = [_Text("{")]
            for index, (key, item) in enumerate(items):
                parts += [_Text(("," if index else "") + _string(key) + ":"), item]
            parts.append(_Text("}"))
            pending.extend(reversed(parts))
        elif isinstance(value, list | tuple):
            parts = [_Text("[")]
            for index, item in enumerate(value):
                parts += [_Text(","), item] if index else [item]
            parts.append(_Text("]"))
            pending.extend(reversed(parts))
        else:
            out.append(_scalar(value))
    return "".join(out).encode("utf-8", errors="surrogatepass")


def digest_of(data: Any) -> Digest:
    text = canonical_json(data)
    return Digest(hashlib.sha256(text).hexdigest(), len(text))


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _scalar(value: Any) -> str:
    if value is None or isinstance(value, bool | float):
        return json.dumps(value)
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # more digits than Python writes in decimal (sys.get_int_max_str_digits)
            return hex(value)
    return _string(value if isinstance(value, str) else str(value))
