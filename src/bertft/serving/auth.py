"""API keys: `Authorization: Bearer <key>` on every route but the open ones (health checks, which
orchestrators call without credentials, /metrics for the scraper, and the API's own description).

Keys are compared in constant time (hmac.compare_digest, against every key), and never written
to a log, an answer or /info.
"""

from __future__ import annotations

import hmac
import json

OPEN_PATHS = frozenset(
    {"/ping", "/health", "/livez", "/readyz", "/metrics", "/openapi.json", "/docs", "/"}
)


class RequireApiKey:
    """ASGI middleware answering 401 to a request without a valid bearer key. GET / (the web
    page) is open; the page's own requests then need the key like any other."""

    def __init__(self, app, keys: list[str]):
        self.app = app
        self.keys = [k.encode() for k in keys]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or self._open(scope) or self._valid(scope):
            return await self.app(scope, receive, send)
        body = json.dumps(
            {
                "error": "missing or wrong API key: send the header Authorization: Bearer <key>",
                "error_type": "unauthorized",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="bertft"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _open(scope) -> bool:
        path = scope["path"]
        return path in OPEN_PATHS and (path != "/" or scope["method"] in ("GET", "HEAD"))

    def _valid(self, scope) -> bool:
        header = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        scheme, _, token = header.partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        token = token.strip()
        # Every key is compared, whether or not an earlier one matched: the time taken says
        # nothing about which key, or how much of one, was right.
        matches = [hmac.compare_digest(token, key) for key in self.keys]
        return any(matches)
