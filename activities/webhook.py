"""The webhook sink: POST each effect as JSON, signed with HMAC-SHA256 over time, key and body.

What a receiver can rely on (README "Receiving webhooks"):
- `X-Aftersales-Signature: sha256=<hex>` is the HMAC-SHA256, under the shared secret, of
  `<timestamp>.<idempotency key>.<body>`: the timestamp and the key are signed with the body, so a
  captured request cannot be replayed under a fresh key (to slip past the receiver's dedupe) or
  with a fresh time (to slip past its staleness check).
- `verify_request` refuses a stale timestamp (more than `TOLERANCE_SECONDS` from the receiver's
  clock), a wrong signature, and a secret shorter than `MIN_SECRET_LENGTH`: an empty or guessable
  secret signs nothing.
- Each attempt is signed anew with its own time; the key stays the same, and receivers dedupe on it.

Delivery: 2xx is done; 4xx is the receiver refusing the request, not retried; 5xx, timeouts and
connection errors raise, and Temporal retries with backoff. Redirects are not followed (a redirect
could lead the worker anywhere). URLs are https, and name no internal address (loopback, private,
link-local: the worker's own network), unless the settings allow it for local testing.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from temporalio.exceptions import ApplicationError

SIGNATURE_HEADER = "X-Aftersales-Signature"
KEY_HEADER = "X-Aftersales-Idempotency-Key"
TIMESTAMP_HEADER = "X-Aftersales-Timestamp"
# 4xx answers that mean "not now" rather than "never": request timeout, too early, too many requests.
RETRY_4XX = frozenset({408, 425, 429})
# A secret shorter than this is refused by the sender and by `verify_request`: 32 characters of a
# random token (`python -c "import secrets; print(secrets.token_urlsafe(32))"` gives 43) are out of
# reach of guessing; "s3cret" is not.
MIN_SECRET_LENGTH = 32
# How far a request's timestamp may be from the receiver's clock: long enough for clock skew and a
# slow network, short enough that a captured request is useless soon after.
TOLERANCE_SECONDS = 300

Resolver = Callable[[str, int], Sequence[str]]


# --- signing (both sides) -------------------------------------------------------------------------


def check_secret(secret: str) -> None:
    """Raise ValueError unless the secret is long enough to sign with."""
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"the webhook secret must be at least {MIN_SECRET_LENGTH} characters (a random token), not {len(secret)}"
        )


def signed_content(timestamp: str, key: str, body: bytes) -> bytes:
    """What the signature covers: `<timestamp>.<idempotency key>.<body>`."""
    return f"{timestamp}.{key}.".encode() + body


def sign(body: bytes, secret: str, *, timestamp: str, key: str) -> str:
    """The signature header value: `sha256=` and the hex HMAC-SHA256 of the signed content."""
    check_secret(secret)
    digest = hmac.new(secret.encode(), signed_content(timestamp, key, body), hashlib.sha256).hexdigest()
    return "sha256=" + digest


def refusal(
    body: bytes,
    secret: str,
    *,
    signature: str | None,
    timestamp: str | None,
    key: str | None,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> str | None:
    """For receivers: why this request is not to be trusted, or None when it is.

    Raises ValueError for a secret too short to verify with (the receiver's configuration is wrong,
    whatever the request). The reasons never repeat what the request carried.
    """
    check_secret(secret)
    if not signature or not timestamp or not key:
        missing = [
            name
            for name, value in ((SIGNATURE_HEADER, signature), (TIMESTAMP_HEADER, timestamp), (KEY_HEADER, key))
            if not value
        ]
        return f"missing {', '.join(missing)}"
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return f"{TIMESTAMP_HEADER} is not a time in seconds"
    clock = time.time() if now is None else now
    if abs(clock - int(timestamp)) > tolerance:
        return f"{TIMESTAMP_HEADER} is more than {tolerance} s from now (stale or replayed)"
    expected = sign(body, secret, timestamp=timestamp, key=key)
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return "the signature does not match the body, timestamp and key"
    return None


def verify(
    body: bytes,
    secret: str,
    *,
    signature: str | None,
    timestamp: str | None,
    key: str | None,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """For receivers: is this request signed with the secret, recently? (Constant-time comparison.)"""
    found = refusal(body, secret, signature=signature, timestamp=timestamp, key=key, now=now, tolerance=tolerance)
    return found is None


def verify_request(headers: Mapping[str, str], body: bytes, secret: str, *, now: float | None = None) -> str | None:
    """For receivers: `refusal` reading the three headers from a request's headers (any case)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    return refusal(
        body,
        secret,
        signature=lowered.get(SIGNATURE_HEADER.lower()),
        timestamp=lowered.get(TIMESTAMP_HEADER.lower()),
        key=lowered.get(KEY_HEADER.lower()),
        now=now,
    )


# --- where the worker may send --------------------------------------------------------------------


def internal(address: str) -> bool:
    """Whether an IP address is the worker's own network: loopback, private, link-local, reserved."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone id is not part of the address
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified
    )


def check_url(url: str, *, allow_http: bool = False, allow_internal: bool = False) -> None:
    """Raise ValueError (naming the setting that would allow it) unless the worker may POST there.

    A host name is checked again when delivering, on the addresses it resolves to.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url} is not an http(s) URL with a host")
    if parts.scheme == "http" and not allow_http:
        raise ValueError(f"{url} is plain http: use https, or set AFTERSALES_WEBHOOK_ALLOW_HTTP=true for local testing")
    host = parts.hostname
    if not allow_internal and (host == "localhost" or host.endswith(".localhost") or internal(host)):
        raise ValueError(
            f"{url} is an internal address: set AFTERSALES_WEBHOOK_ALLOW_INTERNAL=true to send effects there"
        )


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses a host name resolves to (socket.gaierror when it does not)."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx answer is the receiver's answer, not a place to go: it surfaces as an HTTPError."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


# --- the sink -------------------------------------------------------------------------------------


class WebhookSink:
    """POSTs one effect to every URL; a retry re-sends to all, and receivers dedupe on the key header.

    Raises ValueError at construction for a short secret or a URL the settings do not allow.
    """

    def __init__(
        self,
        urls: list[str],
        secret: str,
        *,
        allow_http: bool = False,
        allow_internal: bool = False,
        timeout: float = 10.0,
        resolve: Resolver = resolve_host,
    ) -> None:
        check_secret(secret)
        for url in urls:
            check_url(url, allow_http=allow_http, allow_internal=allow_internal)
        self.urls = urls
        self.secret = secret
        self.allow_internal = allow_internal
        self.timeout = timeout
        self.resolve = resolve

    def deliver(self, payload: dict[str, Any], key: str) -> None:
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode()
        timestamp = str(int(time.time()))  # each attempt is signed with its own time
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, self.secret, timestamp=timestamp, key=key),
            KEY_HEADER: key,
            TIMESTAMP_HEADER: timestamp,
        }
        for url in self.urls:
            self._check_resolved(url, key)
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with _OPENER.open(request, timeout=self.timeout) as response:
                    response.read()
            except urllib.error.HTTPError as exc:
                exc.close()
                if 300 <= exc.code < 500 and exc.code not in RETRY_4XX:
                    raise ApplicationError(
                        f"{url} refused the effect {key}: HTTP {exc.code} {exc.reason}",
                        type="WebhookRejected",
                        non_retryable=True,
                    ) from None
                raise ApplicationError(
                    f"{url} failed with HTTP {exc.code} {exc.reason}; will retry", type="WebhookUnavailable"
                ) from None
            except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as exc:
                raise ApplicationError(f"{url} unreachable ({exc}); will retry", type="WebhookUnavailable") from None

    def _check_resolved(self, url: str, key: str) -> None:
        """A host name that resolves to an internal address is refused like a literal one.

        The check and the connection resolve separately, so a DNS server that answers differently
        the second time is not stopped by this; a deployment that must rule that out sends effects
        through an egress proxy (docs/security.md).
        """
        if self.allow_internal:
            return
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        try:
            addresses = self.resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
        except OSError as exc:
            raise ApplicationError(f"{url} unreachable ({exc}); will retry", type="WebhookUnavailable") from None
        if any(internal(address) for address in addresses):
            raise ApplicationError(
                f"{url} resolves to an internal address; the effect {key} was not sent "
                "(AFTERSALES_WEBHOOK_ALLOW_INTERNAL=true allows it)",
                type="WebhookRejected",
                non_retryable=True,
            )
