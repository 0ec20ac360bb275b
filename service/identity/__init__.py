"""Who is calling: named principals with Ed25519 keys, the grants file, and signed event tokens.

- `keys`: make a principal's key pair, fingerprint it, keep the private key owner-only.
- `grants`: the grants file (`grants.yaml` in the project folder), checked as FILE:LINE:COL problems.
- `tokens`: `mint` a token for one event; `verify` it (deterministic: the time is passed in).
- `watcher`: the grants a worker serves with, picked up again when the file changes.

- `admission`: whether a case admits a call (`admit`), and the worker's `CallerGate` the workflow reads.

The workflow enforces tokens (AFTERSALES_CALLERS, docs/security.md).
"""

from service.identity.grants import (
    GRANTS_FILE,
    Grants,
    GrantsError,
    Principal,
    PublicKey,
    grants_path,
    load_grants,
    parse_grants,
)
from service.identity.keys import (
    KEYS_DIR,
    KeyProblem,
    fingerprint,
    load_private_key,
    new_private_key,
    public_pem,
    write_private_key,
)
from service.identity.tokens import (
    ALGORITHM,
    DEFAULT_TTL,
    LEEWAY,
    MAX_LIFETIME,
    MAX_TOKEN_BYTES,
    REFUSAL_CODES,
    CallerRefused,
    VerifiedToken,
    canonical_json,
    data_digest,
    mint,
    opening,
    verify,
    verify_token,
)
from service.identity.watcher import GrantsCheck, GrantsWatcher

__all__ = [
    "ALGORITHM",
    "DEFAULT_TTL",
    "GRANTS_FILE",
    "KEYS_DIR",
    "LEEWAY",
    "MAX_LIFETIME",
    "MAX_TOKEN_BYTES",
    "REFUSAL_CODES",
    "CallerRefused",
    "Grants",
    "GrantsCheck",
    "GrantsError",
    "GrantsWatcher",
    "KeyProblem",
    "Principal",
    "PublicKey",
    "VerifiedToken",
    "canonical_json",
    "data_digest",
    "fingerprint",
    "grants_path",
    "load_grants",
    "load_private_key",
    "mint",
    "new_private_key",
    "opening",
    "parse_grants",
    "public_pem",
    "verify",
    "verify_token",
    "write_private_key",
]
