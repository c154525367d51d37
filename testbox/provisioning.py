"""The provisioning REST API (``icat-testbox serve``): ICAT test instances on demand.

Routes (JSON in and out; errors are ``{"error": message, ...}``):

- ``POST /instances`` — body (all optional) ``{"icat_server_version": "6.2.0",
  "authn_db_version": "3.0.0", "load_fixtures": true, "users": [{"plugin": "uos", "name":
  "jdoe", "password": "..."}], "root_users": ["uos/jdoe"], "timezone": "Europe/Berlin"}``
  → 201 with the instance:
  ``{id, url, auth_plugin, username, password, ...}``; unknown versions → 400 with the
  ``supported`` list; a malformed body → 400; a body over 64 KiB → 413; too many
  instances → 429;
- ``GET /instances`` → 200 ``{"instances": [...]}``;
- ``GET /instances/{id}`` → 200 with the instance (``status`` says whether its process
  still runs);
- ``DELETE /instances/{id}`` → 204 once its process has stopped and its files are gone;
- an unknown id → 404, another method on a known route → 405.

Instances are separate processes (see ``testbox.provisioner``). The API has no
authentication: it listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import signal
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from testbox.accounts import AccountError, parse_accounts, parse_user_names
from testbox.provisioner import (
    DEFAULT_AUTHN_DB_VERSION,
    DEFAULT_ICAT_SERVER_VERSION,
    DEFAULT_MAX_INSTANCES,
    ProvisioningError,
    Provisioner,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
DEFAULT_PORT = 5000
_INSTANCES = re.compile(r"^/instances/?$")
_INSTANCE = re.compile(r"^/instances/([^/]+)/?$")
_CREATE_FIELDS: dict[str, tuple[type, Any]] = {
    "icat_server_version": (str, DEFAULT_ICAT_SERVER_VERSION),
    "authn_db_version": (str, DEFAULT_AUTHN_DB_VERSION),
    "load_fixtures": (bool, True),
    "users": (list, []),
    "root_users": (list, []),
    "timezone": (str, "UTC"),
}
_TYPE_NAMES = {str: "string", bool: "boolean", list: "list"}


def parse_create_request(body: bytes) -> dict[str, Any]:
    """The arguments of ``Provisioner.create`` from a POST body; an empty body means defaults.

    Unknown keys are refused rather than ignored: a misspelt ``load_fixture`` would
    otherwise silently give the default.
    """
    if not body.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProvisioningError(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProvisioningError(400, "the body must be a JSON object")
    unknown = sorted(set(data) - set(_CREATE_FIELDS))
    if unknown:
        raise ProvisioningError(400, f"unknown fields: {', '.join(unknown)}", allowed=sorted(_CREATE_FIELDS))
    arguments = {}
    for name, (kind, default) in _CREATE_FIELDS.items():
        value = data.get(name, default)
        if not isinstance(value, kind):
            raise ProvisioningError(400, f"{name} must be a {_TYPE_NAMES[kind]}")
        arguments[name] = value
    try:
        arguments["users"] = parse_accounts(arguments["users"])
        arguments["root_users"] = parse_user_names(arguments["root_users"])
    except AccountError as exc:
        raise ProvisioningError(400, str(exc)) from None
    _check_timezone(arguments["timezone"])
    return arguments


def _check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ProvisioningError(400, f"unknown timezone {name!r}: use an IANA name like Europe/Berlin") from None


class _Handler(BaseHTTPRequestHandler):
    server: ProvisioningHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        log.info("%s " + format, self.client_address[0], *args)

    def _send_json(self, status: int, data: Any = None, headers: dict[str, str] | None = None) -> None:
        body = b"" if data is None else json.dumps(data).encode("utf-8") + b"\n"
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != HTTPStatus.NO_CONTENT:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_error(self, error: ProvisioningError) -> None:
        self._send_json(error.status, {"error": error.message, **error.details})

    def _public_host(self) -> str | None:
        """The host name the client used, for URLs of instances bound to a wildcard address."""
        host = self.headers.get("Host")
        return urlsplit(f"//{host}").hostname if host else None

    def _route(self) -> tuple[str, str | None]:
        path = urlsplit(self.path).path
        if _INSTANCES.match(path):
            return "collection", None
        if m := _INSTANCE.match(path):
            return "instance", m.group(1)
        raise ProvisioningError(404, f"no route {path}")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise ProvisioningError(411, "send a Content-Length, not a chunked body")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            raise ProvisioningError(400, "bad Content-Length")
        if length > MAX_BODY_BYTES:
            raise ProvisioningError(413, f"the body is over {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length)

    def _handle(self, method: str) -> None:
        try:
            kind, instance_id = self._route()
            allowed = ("GET", "POST") if kind == "collection" else ("GET", "DELETE")
            if method not in allowed:
                self.close_connection = True  # an unread body must not be parsed as a request
                self._send_json(405, {"error": f"{method} not allowed here"}, {"Allow": ", ".join(allowed)})
                return
            provisioner = self.server.provisioner
            if kind == "collection" and method == "POST":
                instance = provisioner.create(**parse_create_request(self._read_body()))
                self._send_json(201, instance.describe(self._public_host()),
                                {"Location": f"/instances/{instance.id}"})
            elif kind == "collection":
                self._send_json(200, {"instances": [i.describe(self._public_host()) for i in provisioner.instances()]})
            elif method == "GET":
                self._send_json(200, provisioner.get(instance_id).describe(self._public_host()))
            else:
                provisioner.delete(instance_id)
                self._send_json(204)
        except ProvisioningError as error:
            self.close_connection = True  # a body left unread must not be parsed as a request
            self._send_error(error)
        except Exception:
            log.exception("provisioning request failed")
            self.close_connection = True
            self._send_json(500, {"error": "internal error; see the provisioning API's log"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")


class ProvisioningHTTPServer(ThreadingHTTPServer):
    """The provisioning API over one ``Provisioner``; instances bind to the API's host."""

    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 max_instances: int = DEFAULT_MAX_INSTANCES) -> None:
        self.provisioner = Provisioner(host, max_instances)
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start_background(self) -> None:
        """Serve from a daemon thread; end with ``stop()``."""
        self._thread = threading.Thread(target=self.serve_forever, name="icat-testbox-serve", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop taking requests, then stop every instance."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()
        self.provisioner.stop_all()


def add_serve_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the provisioning REST API (ICAT instances on demand)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address for the API and its instances (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"API port (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--max-instances", type=int, default=DEFAULT_MAX_INSTANCES,
                        help=f"instances alive at once (default {DEFAULT_MAX_INSTANCES})")
    parser.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT, then stop all instances. Prints ``url: ...`` first."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = ProvisioningHTTPServer(args.host, args.port, args.max_instances)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(f"url: {server.url}", flush=True)
    server.start_background()
    while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals
        pass
    server.stop()
    return 0
