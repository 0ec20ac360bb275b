"""Signed event tokens: a principal's proof that it sends this event, with this data, to this case.

A token is a compact JWT signed with the principal's Ed25519 key (EdDSA). It names the principal
(`iss`, `sub`), the case (`case`), the event (`evt`, or `open:<case_type>` for an opening), the
role it acts in (`role`) and the SHA-256 of the event data's canonical JSON (`dig`), and it lives
for two minutes by default (`iat`, `exp`), so a token cannot be replayed on another case, for
another event, with other data, or later.

`verify` is deterministic: the time comes in as `now` (a workflow's time), nothing is read from the
clock, the network or the disk, and every refusal is a `CallerRefused` whose reason names the claim
at fault, never the caller's values (which may carry personal data).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.api_jws import PyJWS

from policy_engine.language.model import ROLES
from service.identity.grants import Grants, Principal, PublicKey
from service.identity.keys import fingerprint, parse_private_pem

ALGORITHM = "EdDSA"  # the only one accepted: never `none`, never a shared-secret HMAC
DEFAULT_TTL = dt.timedelta(seconds=120)
MAX_LIFETIME = dt.timedelta(minutes=15)  # `exp` - `iat` beyond this is refused whoever signed it
LEEWAY = dt.timedelta(seconds=30)  # clock skew between the caller and the service
MAX_TOKEN_BYTES = 8 * 1024  # checked before anything is parsed
OPEN_PREFIX = "open:"  # `evt` of an opening: open:<case_type>

_jws = PyJWS(algorithms=[ALGORITHM])
_LAST_SECOND = 253402300800  # 10000-01-01: times past it are not times
_CLAIMS: dict[str, type] = {
    "iss": str,
    "sub": str,
    "case": str,
    "evt": str,
    "dig": str,
    "role": str,
    "iat": int,
    "exp": int,
    "jti": str,
}

# Why a token was refused: a short code for programs and metrics, the reason for people.
REFUSAL_CODES = (
    "no_token",
    "malformed",
    "bad_algorithm",
    "unknown_principal",
    "principal_disabled",
    "principal_expired",
    "bad_signature",
    "not_yet_valid",
    "expired",
    "too_long_lived",
    "wrong_case",
    "wrong_event",
    "wrong_role",
    "role_not_granted",
    "case_type_not_granted",
    "data_mismatch",
)


class CallerRefused(Exception):
    """The caller's token does not allow this event; `reason` says why in the user's terms."""

    def __init__(self, code: str, reason: str) -> None:
        assert code in REFUSAL_CODES, code
        self.code = code
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class VerifiedToken:
    """A token that verified: who sent it, and its id and lifetime (for replay bookkeeping)."""

    principal: Principal
    jti: str
    issued_at: dt.datetime
    expires_at: dt.datetime


def opening(case_type: str) -> str:
    """The `evt` of a token that opens a case of `case_type`."""
    return OPEN_PREFIX + case_type


def canonical_json(data: Any) -> bytes:
    """The bytes `dig` is computed over: JSON with keys sorted (by code point), no whitespace, UTF-8
    (not \\u-escaped), no NaN or infinity; absent data is `{}`. Raises ValueError on data JSON cannot hold."""
    return json.dumps(
        {} if data is None else data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def data_digest(data: Any) -> str:
    """`dig`: the base64url (no padding) SHA-256 of `canonical_json(data)`."""
    return _b64(hashlib.sha256(canonical_json(data)).digest())


def mint(
    principal: str,
    private_key: Ed25519PrivateKey | bytes | str,
    *,
    case_id: str,
    event: str,
    data: Mapping[str, Any] | None,
    role: str,
    now: dt.datetime,
    ttl: dt.timedelta | float = DEFAULT_TTL,
    jti: str | None = None,
) -> str:
    """A token for one event (`event` is `opening(case_type)` for an opening), valid from `now` for `ttl`.

    `private_key`: the key object or its PEM (see `service.identity.keys.load_private_key`).
    """
    key = private_key if isinstance(private_key, Ed25519PrivateKey) else _private(private_key)
    lifetime = ttl if isinstance(ttl, dt.timedelta) else dt.timedelta(seconds=ttl)
    if not dt.timedelta(0) < lifetime <= MAX_LIFETIME:
        raise ValueError(f"ttl must be more than 0 and at most {MAX_LIFETIME.total_seconds():.0f} s")
    issued = int(_aware(now).timestamp())
    claims = {
        "iss": principal,
        "sub": principal,
        "case": case_id,
        "evt": event,
        "dig": data_digest(data),
        "role": role,
        "iat": issued,
        "exp": issued + int(lifetime.total_seconds()),
        "jti": jti or uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": fingerprint(key)})


def verify(
    token: str | None,
    grants: Grants,
    *,
    case_id: str,
    event: str,
    data: Mapping[str, Any] | None,
    role: str,
    now: dt.datetime,
) -> Principal:
    """The principal that signed `token` for exactly this case, event, data and role, at `now`;
    raises CallerRefused otherwise."""
    return verify_token(token, grants, case_id=case_id, event=event, data=data, role=role, now=now).principal


def verify_token(
    token: str | None,
    grants: Grants,
    *,
    case_id: str,
    event: str,
    data: Mapping[str, Any] | None,
    role: str,
    now: dt.datetime,
) -> VerifiedToken:
    """`verify`, with the token's id and lifetime."""
    moment = _aware(now)
    if token is None or (isinstance(token, str) and not token.strip()):
        raise CallerRefused("no_token", "the event carries no token: sign it with the sending principal's key")
    if not isinstance(token, str):
        raise CallerRefused("malformed", "the token is not text (a compact JWT)")
    if len(token) > MAX_TOKEN_BYTES:
        raise CallerRefused("malformed", f"the token is longer than {MAX_TOKEN_BYTES // 1024} KB")
    header, unverified = _unverified(token)
    issuer = unverified.get("iss")
    if not isinstance(issuer, str):
        raise CallerRefused("malformed", "the token has no `iss` claim (the principal)")
    principal = grants.get(issuer)
    if principal is None:
        raise CallerRefused("unknown_principal", "the token's issuer (`iss`) is not a principal in the grants file")
    status = principal.status(moment)
    if status == "disabled":
        raise CallerRefused(
            "principal_disabled", f"principal '{principal.name}' is revoked (disabled in the grants file)"
        )
    if status == "expired":
        assert principal.expires is not None
        raise CallerRefused(
            "principal_expired",
            f"principal '{principal.name}''s grants expired at {principal.expires.isoformat()}",
        )
    claims = _verified_claims(token, header, principal)
    issued_at, expires_at = _check_times(claims, moment)
    if claims["case"] != case_id:
        raise CallerRefused("wrong_case", "the token was issued for another case (`case`)")
    if claims["evt"] != event:
        raise CallerRefused("wrong_event", "the token was issued for another event (`evt`)")
    if claims["role"] != role:
        raise CallerRefused("wrong_role", "the token asserts another role (`role`) than the event's")
    if role not in principal.roles:
        granted = ", ".join(sorted(principal.roles))
        raise CallerRefused(
            "role_not_granted",
            f"principal '{principal.name}' may not act as {_say(role, ROLES, 'this role')} (granted: {granted})",
        )
    if event.startswith(OPEN_PREFIX):
        case_type = event.removeprefix(OPEN_PREFIX)
        if case_type not in principal.open_types:
            granted = ", ".join(sorted(principal.open_types)) or "none"
            raise CallerRefused(
                "case_type_not_granted",
                f"principal '{principal.name}' may not open cases of this type (`evt`; granted: {granted})",
            )
    try:
        digest = data_digest(data)
    except (TypeError, ValueError):
        raise CallerRefused("data_mismatch", "the event data cannot be compared with the token's `dig`") from None
    if not hmac.compare_digest(claims["dig"].encode("ascii", "replace"), digest.encode("ascii")):
        raise CallerRefused("data_mismatch", "the event data differ from the data the token signs (`dig`)")
    return VerifiedToken(principal, claims["jti"], issued_at, expires_at)


# --- the steps ------------------------------------------------------------------------------------


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and the claims before the signature is checked: only to find the principal's keys."""
    parts = token.split(".")
    if len(parts) != 3:
        raise CallerRefused("malformed", "the token is not a compact JWT (three base64url parts)")
    header = _json_part(parts[0], "header")
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise CallerRefused(
            "bad_algorithm",
            "the token is not signed with EdDSA (`alg`): unsigned tokens and other algorithms are refused",
        )
    return header, _json_part(parts[1], "claims")


def _json_part(part: str, what: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        value = json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise CallerRefused("malformed", f"the token's {what} is not base64url JSON") from None
    if not isinstance(value, dict):
        raise CallerRefused("malformed", f"the token's {what} is not a JSON object")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError("duplicate member")  # two `case` claims: which one was meant?
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _verified_claims(token: str, header: Mapping[str, Any], principal: Principal) -> dict[str, Any]:
    kid = header.get("kid")
    keys: tuple[PublicKey, ...] = principal.keys
    if kid is not None:
        chosen = principal.key(kid) if isinstance(kid, str) else None
        if chosen is None:
            raise CallerRefused(
                "bad_signature",
                f"the token is signed with a key (`kid`) that is not one of principal '{principal.name}''s keys",
            )
        keys = (chosen,)
    for key in keys:
        try:
            signed = _jws.decode_complete(token, key.key, algorithms=[ALGORITHM])
        except jwt.InvalidSignatureError:
            continue
        except jwt.InvalidAlgorithmError:
            raise CallerRefused("bad_algorithm", "the token is not signed with EdDSA (`alg`)") from None
        except jwt.PyJWTError:
            raise CallerRefused("malformed", "the token is not a valid compact JWT") from None
        return _claims(signed["payload"])
    raise CallerRefused(
        "bad_signature", f"the token's signature does not verify with principal '{principal.name}''s key"
    )


def _claims(payload: bytes) -> dict[str, Any]:
    try:
        claims = json.loads(payload, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise CallerRefused("malformed", "the token's claims are not JSON") from None
    if not isinstance(claims, dict):
        raise CallerRefused("malformed", "the token's claims are not a JSON object")
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, int) or isinstance(nbf, bool)):
        raise CallerRefused("malformed", "the token's `nbf` claim is not a whole number of seconds")
    for name, kind in _CLAIMS.items():
        value = claims.get(name)
        if value is None:
            raise CallerRefused("malformed", f"the token has no `{name}` claim")
        if not isinstance(value, kind) or isinstance(value, bool):
            expected = "a whole number of seconds" if kind is int else "text"
            raise CallerRefused("malformed", f"the token's `{name}` claim is not {expected}")
    for name in ("iat", "exp", "nbf"):
        if name in claims and not 0 <= claims[name] < _LAST_SECOND:
            raise CallerRefused("malformed", f"the token's `{name}` claim is out of range")
    if claims["sub"] != claims["iss"]:
        raise CallerRefused("malformed", "the token's `sub` differs from its `iss` (both name the principal)")
    if not 0 < len(claims["jti"]) <= 128:
        raise CallerRefused("malformed", "the token's `jti` is empty or longer than 128 characters")
    return claims


def _check_times(claims: Mapping[str, Any], now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    at = now.timestamp()
    leeway = LEEWAY.total_seconds()
    iat, exp = claims["iat"], claims["exp"]
    if exp <= iat:
        raise CallerRefused("malformed", "the token's `exp` is not after its `iat`")
    if exp - iat > MAX_LIFETIME.total_seconds():
        minutes = MAX_LIFETIME.total_seconds() / 60
        raise CallerRefused("too_long_lived", f"the token lives longer than {minutes:.0f} minutes (`exp` - `iat`)")
    start = max(iat, claims.get("nbf") or iat)
    if start > at + leeway:
        raise CallerRefused(
            "not_yet_valid",
            f"the token is not valid yet (`iat`/`nbf` {start - at:.0f} s ahead of the service's time: check the caller's clock)",
        )
    if exp <= at - leeway:
        raise CallerRefused(
            "expired", f"the token expired {at - exp:.0f} s ago (`exp`): sign each event when sending it"
        )
    return dt.datetime.fromtimestamp(iat, dt.UTC), dt.datetime.fromtimestamp(exp, dt.UTC)


def _say(value: str, known: tuple[str, ...], otherwise: str) -> str:
    """A name from the request in a reason only when it is one of ours (a role), never the caller's text."""
    return value if value in known else otherwise


def _private(pem: bytes | str) -> Ed25519PrivateKey:
    return parse_private_pem(pem.encode("utf-8") if isinstance(pem, str) else pem)


def _aware(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("`now` must carry its UTC offset (a workflow's time does)")
    return now


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
