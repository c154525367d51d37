"""Who is looking at the dashboard: basic auth, a reverse proxy's user header, or nobody
(a local demo, asked for explicitly with ``PACER_DASHBOARD_AUTH=none``).

Every request but the health check passes through ``Authentication``; a request without
a user is refused with 401 before any page code runs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import bcrypt
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from pacer_celery.errors import ConfigurationError
from pacer_celery.settings import Settings

#: Paths anyone may fetch: a load balancer's health check says nothing of the journal.
OPEN_PATHS = ("/healthz",)
#: A user name from a header is recorded in the journal: keep it short and printable.
MAX_USER_CHARS = 255
#: Checked against when the user is unknown, so that a wrong name costs what a wrong
#: password costs (no telling which names exist by timing).
_DUMMY_HASH = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=5))


@dataclass(frozen=True)
class Caller:
    """What an authenticator looks at."""

    headers: Mapping[str, str]
    client: str | None


class Authenticator:
    #: The WWW-Authenticate challenge of a refusal, if the scheme has one.
    challenge: str | None = None

    def user(self, request: Caller) -> str | None:
        raise NotImplementedError


class NoAuthentication(Authenticator):
    def user(self, request: Caller) -> str | None:
        return "local"


class BasicAuthentication(Authenticator):
    challenge = 'Basic realm="PACER dashboard", charset="UTF-8"'

    def __init__(self, plain: dict[str, str], hashed: dict[str, bytes]) -> None:
        # Plain passwords are kept as digests: equal length, so comparing them is constant time.
        self._plain = {name: _digest(password) for name, password in plain.items()}
        self._hashed = hashed

    def user(self, request: Caller) -> str | None:
        credentials = _basic_credentials(request.headers.get("authorization", ""))
        if credentials is None:
            return None
        name, password = credentials
        if name in self._plain:
            good = hmac.compare_digest(self._plain[name], _digest(password))
        else:
            good = bcrypt.checkpw(password.encode(), self._hashed.get(name, _DUMMY_HASH))
            good = good and name in self._hashed
        return name if good else None


class HeaderAuthentication(Authenticator):
    """The reverse proxy in front authenticated the user and names them in a header; the
    header is believed only from the proxy's addresses, since anyone can send it."""

    def __init__(self, header: str, proxies: list[str]) -> None:
        self.header = header.lower()
        self._proxies = [ipaddress.ip_network(p, strict=False) for p in proxies]

    def user(self, request: Caller) -> str | None:
        if not self._from_proxy(request.client):
            return None
        name = request.headers.get(self.header, "").strip()
        if not name or len(name) > MAX_USER_CHARS or not name.isprintable():
            return None
        return name

    def _from_proxy(self, client: str | None) -> bool:
        try:
            address = ipaddress.ip_address(client or "")
        except ValueError:
            return False
        return any(address in network for network in self._proxies)


def authenticator(settings: Settings) -> Authenticator:
    """The authenticator the settings ask for; ConfigurationError if it cannot work."""
    if settings.dashboard_auth == "none":
        if not _loopback(settings.dashboard_host):
            raise ConfigurationError(
                "PACER_DASHBOARD_AUTH=none is for a local demo: it needs PACER_DASHBOARD_HOST "
                f"on a loopback address, not {settings.dashboard_host!r}"
            )
        return NoAuthentication()
    if settings.dashboard_auth == "header":
        try:
            proxies = [p.strip() for p in settings.dashboard_trusted_proxies.split(",") if p.strip()]
            return HeaderAuthentication(settings.dashboard_user_header, proxies)
        except ValueError as exc:
            raise ConfigurationError(f"PACER_DASHBOARD_TRUSTED_PROXIES: {exc}") from None
    plain = _users(settings.dashboard_users.get_secret_value() if settings.dashboard_users else "")
    hashed = _htpasswd(settings.dashboard_users_file) if settings.dashboard_users_file else {}
    if not plain and not hashed:
        raise ConfigurationError(
            "the dashboard needs users: PACER_DASHBOARD_USERS=name:password,... or "
            "PACER_DASHBOARD_USERS_FILE (htpasswd -B), or PACER_DASHBOARD_AUTH=header behind "
            "a proxy that authenticates (PACER_DASHBOARD_AUTH=none only for a local demo)"
        )
    return BasicAuthentication(plain, hashed)


class Authentication:
    """ASGI middleware: puts the request's user in ``scope["state"]["user"]``, or refuses."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        request = Caller(Headers(scope=scope), client[0] if client else None)
        # bcrypt is slow on purpose: not on the event loop.
        user = await run_in_threadpool(self.authenticator.user, request)
        if user is None:
            challenge = self.authenticator.challenge
            refusal = PlainTextResponse(
                "401: log in to see the PACER dashboard", status_code=401,
                headers={"WWW-Authenticate": challenge} if challenge else None,
            )
            await refusal(scope, receive, send)
            return
        scope.setdefault("state", {})["user"] = user
        await self.app(scope, receive, send)


def _digest(password: str) -> bytes:
    return hashlib.sha256(password.encode()).digest()


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        name, sep, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (name, password) if sep and name else None


def _users(text: str) -> dict[str, str]:
    users = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        name, sep, password = entry.partition(":")
        if not sep or not name or not password:
            raise ConfigurationError("PACER_DASHBOARD_USERS: write name:password,name:password")
        users[name] = password
    return users


def _htpasswd(path: Path) -> dict[str, bytes]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigurationError(f"PACER_DASHBOARD_USERS_FILE: {exc}") from None
    users = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, hashed = line.strip().partition(":")
        if not name or not hashed.startswith(("$2y$", "$2b$", "$2a$")):
            raise ConfigurationError(
                f"PACER_DASHBOARD_USERS_FILE line {number}: not name:bcrypt-hash (make it with htpasswd -B)"
            )
        users[name] = hashed.encode()
    return users


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
