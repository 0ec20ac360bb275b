"""The codec server: the Temporal web UI and `temporal workflow show --codec-endpoint` read encrypted cases
through it (`aftersales codec-server`).

Temporal's codec server protocol: `POST /encode` and `POST /decode` (also under one path segment, the
namespace, as `--codec-endpoint 'http://127.0.0.1:8081/{namespace}'` sends them), a JSON body
`{"payloads": [...]}` with the payloads in protobuf's JSON form, answered in the same shape. Anyone who
reaches it can decrypt, so it listens on 127.0.0.1 unless told otherwise, and a browser page may call it
only from the web UI's origin (CORS): a page from another site gets neither an answer nor the CORS
headers that would let it read one. Errors are JSON, `{"error": "..."}`, naming what was wrong with
the request, never repeating it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from service.codec import CodecError, EncryptionCodec

MAX_BODY_BYTES = 8 * 1024 * 1024  # a page of history; Temporal refuses a single payload over 2 MB anyway
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"  # what the web UI and the temporal CLI send
OPERATIONS = ("encode", "decode")

log = logging.getLogger("aftersales.codec_server")


class RequestRefused(Exception):
    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class CodecServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], codec: EncryptionCodec, origins: Collection[str]) -> None:
        self.codec = codec
        self.origins = frozenset(o.rstrip("/") for o in origins)
        super().__init__(address, CodecRequest)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def operation(self, name: str) -> Callable[[Payload], Payload]:
        return self.codec.encrypt if name == "encode" else self.codec.decrypt


class CodecRequest(BaseHTTPRequestHandler):
    server: CodecServer
    protocol_version = "HTTP/1.1"

    def do_OPTIONS(self) -> None:  # a browser's preflight before its POST
        try:
            self._operation()
            self._allowed_origin()
        except RequestRefused as refused:
            self._answer(refused.status, {"error": refused.reason})
            return
        self._answer(HTTPStatus.NO_CONTENT, None)

    def do_POST(self) -> None:
        try:
            apply = self.server.operation(self._operation())
            self._allowed_origin()
            payloads = self._payloads()
            answer = Payloads(payloads=[apply(p) for p in payloads.payloads])
        except RequestRefused as refused:
            self._answer(refused.status, {"error": refused.reason})
        except CodecError as exc:  # names the key id at fault
            self._answer(HTTPStatus.UNPROCESSABLE_ENTITY, {"error": str(exc)})
        else:
            self._answer(HTTPStatus.OK, json_format.MessageToDict(answer))

    def do_GET(self) -> None:
        self._answer(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "use POST /encode or POST /decode"})

    do_PUT = do_DELETE = do_PATCH = do_GET

    def _operation(self) -> str:
        """`encode` or `decode`, from `/decode` or `/NAMESPACE/decode`."""
        parts = [p for p in self.path.split("?", 1)[0].split("/") if p]
        if not parts or len(parts) > 2 or parts[-1] not in OPERATIONS:
            raise RequestRefused(HTTPStatus.NOT_FOUND, "unknown path: the endpoints are /encode and /decode")
        return parts[-1]

    def _allowed_origin(self) -> str | None:
        """The page's origin when a browser sends one; only the web UI's may call (not repeated if refused)."""
        origin = self.headers.get("Origin")
        if origin is not None and origin.rstrip("/") not in self.server.origins:
            raise RequestRefused(
                HTTPStatus.FORBIDDEN,
                "this origin may not call the codec server; allowed: "
                + ", ".join(sorted(self.server.origins))
                + " (aftersales codec-server --origin)",
            )
        return origin

    def _payloads(self) -> Payloads:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise RequestRefused(HTTPStatus.LENGTH_REQUIRED, "the request needs a Content-Length")
        if int(length) > MAX_BODY_BYTES:
            self.close_connection = True  # the body is not read: the connection cannot be reused
            raise RequestRefused(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is over {MAX_BODY_BYTES // (1024 * 1024)} MB"
            )
        body = self.rfile.read(int(length))
        try:
            return json_format.Parse(body, Payloads())
        except (json_format.ParseError, UnicodeDecodeError):
            raise RequestRefused(
                HTTPStatus.BAD_REQUEST,
                'the body must be JSON {"payloads": [{"metadata": {...}, "data": "<base64>"}]} '
                "(Temporal's codec server protocol)",
            ) from None

    def _answer(self, status: HTTPStatus, body: dict[str, Any] | None) -> None:
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        origin = self.headers.get("Origin")
        if origin is not None and origin.rstrip("/") in self.server.origins:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", ALLOWED_HEADERS)
        self.send_header("Vary", "Origin")
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        # The request line and status only (the default writes them to stderr unformatted); never a body.
        log.info("codec request: " + format, *args)
