"""python-icat's transport, sending SOAP requests over a connection kept open.

suds sends each request through urllib: a new opener of a dozen handlers, a new TCP
connection, the server's accept (and, on a threading server, a new thread), then close.
A dataset message makes about ten requests; that was a tenth of the worker's CPU and a
connection set up and torn down on both sides each time.

This transport keeps one HTTP/1.1 connection per thread and sends every request on it.
It reuses a connection only while it has been idle for less than ``MAX_IDLE_SECONDS``:
servers close idle keep-alive connections after a few seconds (Payara, in front of ICAT,
after 30), and a request written into a connection the server is closing may or may not
have been carried out, so it could not be sent again safely. A failure is raised as
urllib's would be (an ``OSError``): the step's retry decides, as for any network fault.

Fetching the WSDL, and any request through a proxy from the environment, still go
through urllib as before.
"""

from __future__ import annotations

import http.client
import io
import ssl
import threading
import time
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from icat.sslcontext import HTTPSTransport
from suds.transport import Reply, Request, TransportError

#: Reuse a connection only when it was idle for less than this.
MAX_IDLE_SECONDS = 4.0


class KeepAliveTransport(HTTPSTransport):
    """``HTTPSTransport`` (TLS context and proxy as python-icat sets them) whose SOAP
    requests share one kept-alive connection per thread."""

    def __init__(self, context: ssl.SSLContext | None, **kwargs: Any) -> None:
        super().__init__(context, **kwargs)
        self._local = threading.local()
        #: (scheme, host) → whether urllib would go through a proxy for it.
        self._proxied: dict[tuple[str, str], bool] = {}

    def send(self, request: Request) -> Reply | None:
        url = urlsplit(request.url)
        if self._through_proxy(url.scheme, url.hostname or ""):
            return super().send(request)
        connection = self._connection(url.scheme, url.netloc, request.timeout)
        path = url.path + (f"?{url.query}" if url.query else "")
        try:
            connection.request("POST", path or "/", body=request.message, headers=dict(request.headers))
            response = connection.getresponse()
            body = response.read()
        except OSError:
            self._close()
            raise
        except http.client.HTTPException as exc:
            self._close()
            raise OSError(f"ICAT's HTTP answer broke off: {exc!r}") from exc
        if response.will_close:
            self._close()
        else:
            self._local.idle_since = time.monotonic()
        if response.status == http.client.OK:
            return Reply(http.client.OK, dict(response.headers), body)
        if response.status in (http.client.ACCEPTED, http.client.NO_CONTENT):
            return None
        # suds reads a SOAP fault out of a 500's body, as it does from urllib's HTTPError.
        raise TransportError(response.reason, response.status, io.BytesIO(body))

    def _through_proxy(self, scheme: str, host: str) -> bool:
        known = self._proxied.get((scheme, host))
        if known is None:
            known = self._proxied[(scheme, host)] = (
                scheme not in ("http", "https")
                or bool(self.options.proxy)
                or (bool(urllib.request.getproxies().get(scheme)) and not urllib.request.proxy_bypass(host))
            )
        return known

    def _connection(self, scheme: str, netloc: str, timeout: float | None) -> http.client.HTTPConnection:
        local = self._local
        current = getattr(local, "connection", None)
        fresh = (
            current is not None
            and local.target == (scheme, netloc)
            and time.monotonic() - local.idle_since < MAX_IDLE_SECONDS
        )
        if fresh:
            current.timeout = timeout
            if current.sock is not None:
                current.sock.settimeout(timeout)
            return current
        self._close()
        if scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                netloc, timeout=timeout, context=self.ssl_context
            )
        else:
            connection = http.client.HTTPConnection(netloc, timeout=timeout)
        local.connection, local.target = connection, (scheme, netloc)
        return connection

    def _close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
