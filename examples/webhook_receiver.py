"""A receiver of the worker's effects (AFTERSALES_SINK=webhook): verify, dedupe on the signed key, act once.

    AFTERSALES_WEBHOOK_SECRET=... .venv/bin/python examples/webhook_receiver.py [PORT] [DB]

What every receiver must do, in this order:
1. `verify_request`: the signature covers the timestamp, the idempotency key and the body, so a
   request that passes is fresh (within 5 minutes) and its key is the one the worker sent.
2. Record the key and act in ONE transaction, keyed by the idempotency key: the worker retries until it
   hears 2xx, so the same effect may arrive several times (each copy signed anew). A key seen before
   is answered 200 without acting again.
3. Answer 2xx once the effect is safely recorded; 4xx refuses for good (the case records the
   failure); 5xx or no answer makes the worker try again later.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, without installing

from activities.webhook import KEY_HEADER, verify_request

MAX_BODY = 1 << 20  # effects are small; a receiver bounds what it reads


class Effects:
    """The receiver's own record of the effects it acted on, unique on the idempotency key."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, type TEXT, body TEXT)")

    def act_once(self, key: str, effect: dict[str, Any], body: bytes) -> bool:
        """Record the effect and act on it, unless its key was seen; True when it acted."""
        with self.db:  # one transaction: the record and the action land together or not at all
            self.db.execute("BEGIN IMMEDIATE")
            inserted = self.db.execute(
                "INSERT OR IGNORE INTO effects (key, type, body) VALUES (?, ?, ?)",
                (key, str(effect.get("type")), body.decode()),
            ).rowcount
            # ... act here (pay the refund, send the message), inside the same transaction ...
            return inserted == 1


def handler(secret: str, effects: Effects) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                return self._answer(413, "body missing or too large")
            body = self.rfile.read(length)
            refused = verify_request(dict(self.headers), body, secret)
            if refused is not None:
                return self._answer(401, refused)
            effect = json.loads(body)
            acted = effects.act_once(self.headers[KEY_HEADER], effect, body)
            self._answer(200, "done" if acted else "already done")

        def _answer(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Receiver


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8600
    effects = Effects(sys.argv[2] if len(sys.argv) > 2 else "effects.sqlite3")
    server = ThreadingHTTPServer(("127.0.0.1", port), handler(os.environ["AFTERSALES_WEBHOOK_SECRET"], effects))
    print(f"receiving effects on http://127.0.0.1:{port}/")
    server.serve_forever()


if __name__ == "__main__":
    main()
