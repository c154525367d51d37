"""The HTTP side of one testbox ICAT: the SOAP endpoint, its WSDL and test hooks.

Routes:

- ``GET  /ICATService/ICAT?wsdl`` — the WSDL, importing the schema by absolute URL built
  from the request's Host header;
- ``GET  /ICATService/ICAT?xsd=1`` — the schema;
- ``POST /ICATService/ICAT`` — SOAP 1.1 requests;
- ``POST /testbox/sessions/<sessionId>/expire`` — ends that session's lifetime now, so tests
  can exercise expiry without waiting (answers 204, or 404 for an unknown session). It
  needs no other credential: whoever holds a session id may already log it out.
- ``POST /testbox/accounts`` — JSON ``{"sessionId": ROOT_SESSION, "users": [{"plugin",
  "name", "password"}, ...]}`` adds login accounts to the running ICAT (answers 204; 400
  for a malformed body, 403 unless the session is a root user's), so tests can create the
  users their data names, e.g. ``uos/jdoe``, after the server started.
- ``GET  /testbox/requests`` — JSON ``{"search": n, "create": n, ...}``: how many SOAP
  requests of each operation this server has handled since it started (faults included;
  every operation is listed, zero if never called), so benchmarks can count the ICAT calls
  of a client by the difference of two readings. Read-only counts, no credential needed.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from testbox import soap, wsdl
from testbox.accounts import AccountError, parse_accounts
from testbox.errors import IcatError
from testbox.service import IcatService

log = logging.getLogger(__name__)

SERVICE_PATH = "/ICATService/ICAT"
MAX_REQUEST_BYTES = 256 * 1024 * 1024
_EXPIRE = re.compile(r"^/testbox/sessions/([^/]+)/expire$")
_ACCOUNTS = "/testbox/accounts"
_REQUESTS = "/testbox/requests"
MAX_HOOK_BYTES = 256 * 1024
_SCHEMA = wsdl.schema().encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    server: IcatHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.client_address[0], *args)

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this a keep-alive client's delayed
        # ACK holds the second back for 40 ms (Nagle), which small answers would all pay.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _reply(self, status: int, body: bytes = b"", content_type: str = "text/xml; charset=utf-8") -> None:
        self.send_response(status)
        if body or status != HTTPStatus.NO_CONTENT:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        if url.path == _REQUESTS:
            counts = json.dumps(self.server.requests.snapshot()).encode()
            self._reply(HTTPStatus.OK, counts, "application/json")
        elif url.path != SERVICE_PATH:
            self._reply(HTTPStatus.NOT_FOUND, b"Not found\n", "text/plain")
        elif "wsdl" in query or "WSDL" in query:
            host = self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
            self._reply(HTTPStatus.OK, wsdl.wsdl(f"http://{host}{SERVICE_PATH}").encode("utf-8"))
        elif query.get("xsd") == ["1"]:
            self._reply(HTTPStatus.OK, _SCHEMA)
        else:
            self._reply(HTTPStatus.NOT_FOUND, b"Not found\n", "text/plain")

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._reply(HTTPStatus.BAD_REQUEST, b"Bad Content-Length\n", "text/plain")
            return
        if length > MAX_REQUEST_BYTES:
            self.close_connection = True
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"Request too large\n", "text/plain")
            return
        body = self.rfile.read(length)
        path = urlsplit(self.path).path
        if path == SERVICE_PATH:
            status, answer = soap.handle(self.server.service, body, self.server.requests)
            self._reply(status, answer)
        elif (m := _EXPIRE.match(path)) is not None:
            try:
                self.server.service.sessions.expire(m.group(1))
            except IcatError:
                self._reply(HTTPStatus.NOT_FOUND, b"No such session\n", "text/plain")
                return
            self._reply(HTTPStatus.NO_CONTENT)
        elif path == _ACCOUNTS:
            self._add_accounts(body)
        else:
            self._reply(HTTPStatus.NOT_FOUND, b"Not found\n", "text/plain")

    def _add_accounts(self, body: bytes) -> None:
        try:
            if len(body) > MAX_HOOK_BYTES:
                raise AccountError(f"the body is over {MAX_HOOK_BYTES} bytes")
            try:
                request = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                raise AccountError("the body is not valid JSON") from None
            if not isinstance(request, dict) or set(request) != {"sessionId", "users"}:
                raise AccountError('the body must be {"sessionId": ..., "users": [...]}')
            accounts = parse_accounts(request["users"])
            session_id = request["sessionId"] if isinstance(request["sessionId"], str) else None
            self.server.service.add_accounts(session_id, accounts)
        except AccountError as e:
            self._reply(HTTPStatus.BAD_REQUEST, json.dumps({"error": str(e)}).encode(), "application/json")
        except IcatError as e:
            self._reply(HTTPStatus.FORBIDDEN, json.dumps({"error": e.message}).encode(), "application/json")
        else:
            self._reply(HTTPStatus.NO_CONTENT)


class IcatHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server for one IcatService."""

    daemon_threads = True
    # Many client processes connect at once; a short backlog would drop connections.
    request_queue_size = 256

    def __init__(self, service: IcatService, host: str = "127.0.0.1", port: int = 0) -> None:
        self.service = service
        #: What ``GET /testbox/requests`` answers.
        self.requests = soap.RequestCounts()
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        """The base URL clients pass to python-icat (it appends /ICATService/ICAT?wsdl)."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start_background(self) -> threading.Thread:
        """Serve from a daemon thread (for tests and embedding); end with ``stop()``."""
        self._thread = threading.Thread(target=self.serve_forever, name="icat-testbox", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        """Stop serving (if started with ``start_background``), close the socket and the store."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()
        self.service.store.close()
