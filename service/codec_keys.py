"""The payload codec's key file: AES-256 keys, the current one first, readable by its owner only.

```json
{"keys": [{"id": "k-20261201-3f9a1c", "created": "2026-12-01T08:00:00+00:00", "key": "<32 bytes, base64>"}]}
```

The first key encrypts every new payload; every listed key decrypts (a rotation adds a key in front
and keeps the old ones, so histories written under them stay readable). Like a private key, the file
is refused when group or others may read it: a key others could read must be taken as leaked.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.identity.keys import PRIVATE_FILE_MODE, private_dir

KEY_BYTES = 32  # AES-256
KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAKE_ONE = "make one with `aftersales codec new-key` (or `aftersales dev`)"


class CodecKeyError(ValueError):
    """A key file that cannot be used, with the reason in the user's terms (never a key's bytes)."""


@dataclass(frozen=True)
class CodecKey:
    id: str
    created: dt.datetime
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class KeyRing:
    """The keys of one file, the current (encrypting) one first."""

    keys: tuple[CodecKey, ...]
    source: Path

    @property
    def current(self) -> CodecKey:
        return self.keys[0]

    def get(self, key_id: str) -> CodecKey | None:
        return next((k for k in self.keys if k.id == key_id), None)


def load_key_ring(path: Path) -> KeyRing:
    """The keys of `path`; raises CodecKeyError when it is missing, readable by others, or malformed."""
    try:
        st = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CodecKeyError(
            f"{path}: no codec key file (AFTERSALES_CODEC_KEYS); {MAKE_ONE}, or set AFTERSALES_CODEC_KEYS to yours"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise CodecKeyError(f"{path}: cannot read the codec key file: {reason}") from None
    if os.name == "posix" and st.st_mode & 0o077:
        raise CodecKeyError(
            f"{path}: group or others may read this codec key file (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run `chmod 600 {path}`, and make a new key (`aftersales codec new-key`) if anyone else may have read it"
        )
    return KeyRing(parse_keys(text, str(path)), path)


def parse_keys(text: str, name: str) -> tuple[CodecKey, ...]:
    """The keys of a key file's text; `name` prefixes every reason."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CodecKeyError(f"{name}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise CodecKeyError(f'{name}: expected {{"keys": [...]}} listing at least one key; {MAKE_ONE}')
    keys = tuple(_key(entry, f"{name}: keys[{n}]") for n, entry in enumerate(entries))
    seen: set[str] = set()
    for key in keys:
        if key.id in seen:
            raise CodecKeyError(f"{name}: key id '{key.id}' is listed twice: each key needs an id of its own")
        seen.add(key.id)
    return keys


def _key(entry: Any, where: str) -> CodecKey:
    if not isinstance(entry, dict):
        raise CodecKeyError(f"{where}: expected an object with `id`, `created` and `key`")
    key_id, created, secret = entry.get("id"), entry.get("created"), entry.get("key")
    if not isinstance(key_id, str) or not KEY_ID.fullmatch(key_id):
        raise CodecKeyError(f"{where}: `id` must be 1 to 64 letters, digits, '.', '_' or '-'")
    where = f"{where} ('{key_id}')"
    try:
        when = dt.datetime.fromisoformat(created) if isinstance(created, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise CodecKeyError(f"{where}: `created` must be a time with its offset, e.g. 2026-12-01T08:00:00+00:00")
    try:
        raw = base64.b64decode(secret, validate=True) if isinstance(secret, str) else b""
    except binascii.Error:
        raw = b""
    if len(raw) != KEY_BYTES:  # the value itself is never repeated: it is a secret
        raise CodecKeyError(f"{where}: `key` must be {KEY_BYTES} random bytes in base64 (AES-256)")
    return CodecKey(key_id, when, raw)


def new_key(now: dt.datetime) -> CodecKey:
    return CodecKey(
        f"k-{now:%Y%m%d}-{secrets.token_hex(3)}", now.replace(microsecond=0), secrets.token_bytes(KEY_BYTES)
    )


def add_key(path: Path, now: dt.datetime) -> CodecKey:
    """A new key in front of the file's keys (it encrypts from now on; the others still decrypt).

    Makes the file when there is none; an existing file must load (a broken one is never rewritten).
    """
    existing = load_key_ring(path).keys if path.exists() else ()
    key = new_key(now)
    while any(k.id == key.id for k in existing):  # two keys made the same day: another random suffix
        key = new_key(now)
    _write(path, (key, *existing))
    return key


def ensure_key_ring(path: Path, now: dt.datetime) -> CodecKey | None:
    """Make the key file with one key when there is none (`aftersales dev`); the key made, or None."""
    if path.exists():
        return None
    return add_key(path, now)


def _write(path: Path, keys: tuple[CodecKey, ...]) -> None:
    """Replace the file in one rename, owner-only (0600) from its first byte, in an owner-only folder."""
    private_dir(path.parent)
    document = {
        "keys": [
            {"id": k.id, "created": k.created.isoformat(), "key": base64.b64encode(k.secret).decode("ascii")}
            for k in keys
        ]
    }
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # whatever the umask
        os.write(fd, (json.dumps(document, indent=2) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
