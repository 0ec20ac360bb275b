"""The webhook sink: POST each effect as JSON, signed with HMAC-SHA256.

2xx is done; 4xx is the receiver refusing the request, not retried; 5xx, timeouts and connection
errors raise, and Temporal retries with backoff. Receivers dedupe on the idempotency key header.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
import urllib.error
import urllib.request
from typing import Any

from temporalio.exceptions import ApplicationError

SIGNATURE_HEADER = "X-Aftersales-Signature"
KEY_HEADER = "X-Aftersales-Idempotency-Key"
TIMESTAMP_HEADER = "X-Aftersales-Timestamp"
# 4xx answers that mean "not now" rather than "never": request timeout, too early, too many requests.
RETRY_4XX = frozenset({408, 425, 429})


def sign(body: bytes, secret: str) -> str:
    """The signature header value: `sha256=` and the hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str) -> bool:
    """For receivers: does the signature header match this body? (Constant time, any header text.)"""
    return hmac.compare_digest(sign(body, secret).encode(), (header or "").encode("utf-8", "replace"))


class WebhookSink:
    """POSTs one effect to every URL; a retry re-sends to all, and receivers dedupe on the key header."""

    def __init__(self, urls: list[str], secret: str, timeout: float = 10.0) -> None:
        self.urls = urls
        self.secret = secret
        self.timeout = timeout

    def deliver(self, payload: dict[str, Any], key: str) -> None:
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, self.secret),
            KEY_HEADER: key,
            TIMESTAMP_HEADER: str(int(time.time())),
        }
        for url in self.urls:
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read()
            except urllib.error.HTTPError as exc:
                exc.close()
                if 400 <= exc.code < 500 and exc.code not in RETRY_4XX:
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
