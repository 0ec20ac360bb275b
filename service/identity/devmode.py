"""Dev mode (`aftersales dev`, `make run`): a local principal `cli` the command line signs as.

Made once: its private key in `.aftersales/keys/cli.pem`, its entry (every role, every case type) in
a new grants file. An existing grants file is never changed: add `cli` there yourself if you want it.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from policy_engine.language.model import ROLES
from service.identity.edit import Entry, put_principal, write_checked
from service.identity.keys import KEYS_DIR, new_private_key, public_pem, write_private_key

DEV_PRINCIPAL = "cli"


def dev_key_file(home: Path, name: str = DEV_PRINCIPAL) -> Path:
    return home / KEYS_DIR / f"{name}.pem"


def ensure_dev_principal(home: Path, grants: Path, case_types: Collection[str]) -> str | None:
    """Make the `cli` principal if there is no grants file yet; what was done, or None."""
    key_file = dev_key_file(home)
    if grants.exists():
        return None
    key = new_private_key()
    if key_file.exists():
        key_file.rename(key_file.with_suffix(".old.pem"))  # a key no grants file knows: set aside
    text = put_principal(
        "",
        DEV_PRINCIPAL,
        Entry(
            roles=sorted(ROLES),
            open_types=sorted(case_types),
            keys=[public_pem(key)],
            note="local development: made by `aftersales dev`; remove before production",
        ),
    )
    write_checked(grants, text, case_types=case_types)
    write_private_key(key_file, key)
    return f"made principal '{DEV_PRINCIPAL}' (every role and case type) in {grants}, its key in {key_file}"
