"""What every response carries against a hostile page or message, and the forms' CSRF tokens.

The dashboard runs no script at all, so its Content-Security-Policy allows none: a body or
identifier that slipped past escaping still could not run. Replay and purge are POSTs
that carry a token only the dashboard's own pages hold (bound to the user, expiring), so
another site cannot make an operator's browser replay or purge.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    # Pages show message bodies and identifiers: no copy in a shared cache or on disk.
    "cache-control": "no-store",
}
#: How long a page's forms stay usable.
TOKEN_SECONDS = 8 * 3600


class SecurityHeaders:
    """ASGI middleware adding ``HEADERS`` to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in HEADERS.items() if k.encode() not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


class Tokens:
    """CSRF tokens: ``issued.signature``, the signature over the user and the time."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def issue(self, user: str) -> str:
        issued = str(int(time.time()))
        return f"{issued}.{self._sign(user, issued)}"

    def valid(self, user: str, token: str) -> bool:
        issued, _, signature = token.partition(".")
        if not issued.isdigit() or time.time() - int(issued) > TOKEN_SECONDS:
            return False
        return hmac.compare_digest(signature.encode(), self._sign(user, issued).encode())

    def _sign(self, user: str, issued: str) -> str:
        return hmac.new(self._secret, f"{user}\n{issued}".encode(), hashlib.sha256).hexdigest()
