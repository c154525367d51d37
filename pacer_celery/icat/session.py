"""The process's ICAT session: one logged-in python-icat client per worker process.

The client is created when a worker process starts (``worker.process``) or at first use,
and kept: logging in for every task would load ICAT's authenticators for nothing. It is
refreshed before its session expires, and replaced by a new login when ICAT no longer
knows the session (an ICAT restart, say). ICAT refusing the login itself raises
LoginRefused: retrying a message cannot fix PACER's credentials.
"""

from __future__ import annotations

import logging
import os
import threading
from urllib.parse import urlparse

import icat
import icat.exception as icat_exc
from suds.transport import TransportError

from pacer_celery.errors import ConfigurationError, LoginRefused
from pacer_celery.icat import schema_lookup, soap_text
from pacer_celery.icat.errors import classify
from pacer_celery.icat.transport import KeepAliveTransport
from pacer_celery.settings import Settings, get_settings

logger = logging.getLogger(__name__)

SERVICE_PATH = "/ICATService/ICAT?wsdl"

_lock = threading.Lock()
_client: icat.Client | None = None
#: The process that logged in: a forked worker child must not reuse its parent's client.
_pid: int | None = None


def service_url(server_url: str) -> str:
    """The WSDL URL from ``ICAT_SERVER_URL``: the server's base URL, or a full service URL."""
    parsed = urlparse(server_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigurationError(f"ICAT_SERVER_URL must be an http(s) URL, got {server_url!r}")
    if parsed.path.strip("/") or parsed.query:
        return server_url
    return server_url.rstrip("/") + SERVICE_PATH


def client() -> icat.Client:
    """The process's logged-in client (a transient failure raises TransientError)."""
    global _client, _pid
    with _lock:
        try:
            if _client is not None and _pid != os.getpid():
                # Inherited through a fork: the session is the parent's to log out, not ours.
                _client.sessionId = None
                _client = None
            if _client is None:
                _client, _pid = _login(get_settings()), os.getpid()
            else:
                _refresh(_client)
        except (icat_exc.ServerError, TransportError, OSError) as exc:
            _client = None
            raise classify(exc) from exc
        return _client


def discard(stale: icat.Client | None) -> None:
    """ICAT no longer knows ``stale``'s session: if it is the process's client, the next
    use logs in again."""
    global _client
    with _lock:
        if stale is not None and stale is _client:
            # Nothing to log out of: without this, python-icat tries when the object dies.
            stale.sessionId = None
            _client = None


def close() -> None:
    """Log out and forget the client (a process that stops; tests that stop their ICAT)."""
    global _client
    with _lock:
        if _client is not None and _pid == os.getpid():
            try:
                _client.logout()
            except (icat_exc.ServerError, OSError) as exc:
                logger.info("ICAT logout failed (%s); the session will expire by itself", exc)
        _client = None


def _refresh(current: icat.Client) -> None:
    try:
        # Cheap when the session has time left; refreshes it when it is near its end.
        current.autoRefresh()
    except icat_exc.ICATSessionError:
        logger.info("ICAT session expired; logging in again")
        _login_into(current, get_settings())


def _login(settings: Settings) -> icat.Client:
    if not settings.icat_server_url:
        raise ConfigurationError("ICAT_SERVER_URL is not set")
    # Text such as "R&amp;D" or "a\r\nb" must reach ICAT as the message had it, and
    # fast: every client PACER makes is made here.
    soap_text.install()
    # Datasets of thousands of files: suds' per-element schema lookups would dominate.
    schema_lookup.install()
    new = icat.Client(service_url(settings.icat_server_url), checkCert=settings.icat_check_cert)
    new.set_options(transport=KeepAliveTransport(new.sslContext))
    _login_into(new, settings)
    return new


def _login_into(target: icat.Client, settings: Settings) -> None:
    if not settings.icat_auth_username or settings.icat_auth_password is None:
        raise ConfigurationError("ICAT_AUTH_USERNAME and ICAT_AUTH_PASSWORD must be set")
    try:
        target.login(
            settings.icat_auth_plugin,
            {
                "username": settings.icat_auth_username,
                "password": settings.icat_auth_password.get_secret_value(),
            },
        )
    except (icat_exc.ICATSessionError, icat_exc.ICATNoObjectError, icat_exc.ICATParameterError) as exc:
        # Wrong credentials, an unknown authenticator: only an operator can fix them.
        raise LoginRefused(
            f"ICAT refuses PACER's login as {settings.icat_auth_plugin}/{settings.icat_auth_username}: {exc.message}"
        ) from exc
    logger.info("logged in to ICAT as %s", target.getUserName())
