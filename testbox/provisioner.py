"""Start, track and stop provisioned ICAT instances, one operating-system process each.

Why processes and not threads: an instance that crashes, hangs or exhausts memory takes
only itself down, never the provisioning API or its neighbours; instances do not share a
GIL, so several test runs can load their instances at once; and stopping one is a plain
SIGTERM that frees its port and closes its database for sure. The price is a start-up of
about half a second per instance (a Python interpreter plus the schema).

Each instance runs ``python -m testbox.provisioned`` (``icat-testbox icat`` that also exits
when the API's end of its stdin pipe closes, so instances do not outlive a killed API). It
gets a private temporary directory holding its SQLite file (``icat.db``) and its output
(``output.log``, kept for diagnosis until the instance is deleted), a generated root
password and the requested accounts (through its environment), and a port it picks itself (port 0: no race with other programs). suds caches a
WSDL per URL, so a port handed out once is never handed out again by this provisioner.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from testbox.accounts import Account

SUPPORTED_ICAT_SERVER_VERSIONS = ("6.2.0",)
SUPPORTED_AUTHN_DB_VERSIONS = ("3.0.0",)
DEFAULT_ICAT_SERVER_VERSION = "6.2.0"
DEFAULT_AUTHN_DB_VERSION = "3.0.0"
DEFAULT_MAX_INSTANCES = 32

AUTH_PLUGIN = "db"
ROOT_USERNAME = "root"
#: The child reads the root password from here: an environment variable is private to the
#: user, unlike a command line, which every local user can read in ``ps``.
ROOT_PASSWORD_ENV = "ICAT_TESTBOX_ROOT_PASSWORD"
#: The child's private directory, which it removes itself if the API dies first.
INSTANCE_DIRECTORY_ENV = "ICAT_TESTBOX_INSTANCE_DIRECTORY"
#: The extra accounts, as JSON (passwords included, hence not on the command line).
USERS_ENV = "ICAT_TESTBOX_USERS"

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 10.0
_START_ATTEMPTS = 5  # only a reused port makes us try again
_POLL_SECONDS = 0.02
_WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # listen everywhere, but no address to connect to


class ProvisioningError(Exception):
    """A request the provisioner refuses; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


@dataclass(frozen=True)
class Options:
    """How an instance is set up: fixtures, accounts besides the generated root ``db/root``,
    more of ICAT's rootUserNames, and the server's time zone (for dates without an offset)."""

    load_fixtures: bool = True
    users: tuple[Account, ...] = ()
    root_users: tuple[str, ...] = ()
    timezone: str = "UTC"

    def arguments(self) -> list[str]:
        """The instance's command-line options (no passwords: those go in the environment)."""
        arguments = ["--timezone", self.timezone]
        for name in self.root_users:
            arguments += ["--root-name", name]
        return arguments + (["--fixtures"] if self.load_fixtures else [])

    def environment(self) -> dict[str, str]:
        accounts = [{"plugin": a.plugin, "name": a.name, "password": a.password} for a in self.users]
        return {USERS_ENV: json.dumps(accounts)}


@dataclass
class Instance:
    """One running (or crashed) ICAT process and what a client needs to use it."""

    id: str
    host: str
    port: int
    password: str
    icat_server_version: str
    authn_db_version: str
    options: Options
    process: subprocess.Popen
    directory: Path
    created: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def url(self, public_host: str | None = None) -> str:
        """The base URL for python-icat; ``public_host`` replaces a wildcard bind address."""
        host = public_host if public_host and self.host in _WILDCARD_HOSTS else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def describe(self, public_host: str | None = None) -> dict[str, Any]:
        """The JSON form. It includes the root password: whoever can reach the API can
        already create and delete instances, so hiding it would protect nothing. The extra
        accounts' passwords are not repeated: the caller chose them."""
        returncode = self.process.poll()
        return {
            "id": self.id,
            "url": self.url(public_host),
            "auth_plugin": AUTH_PLUGIN,
            "username": ROOT_USERNAME,
            "password": self.password,
            "icat_server_version": self.icat_server_version,
            "authn_db_version": self.authn_db_version,
            "load_fixtures": self.options.load_fixtures,
            "users": [{"plugin": a.plugin, "name": a.name} for a in self.options.users],
            "root_users": [f"{AUTH_PLUGIN}/{ROOT_USERNAME}", *self.options.root_users],
            "timezone": self.options.timezone,
            "status": "running" if returncode is None else "exited",
            "returncode": returncode,
            "pid": self.process.pid,
            "created": self.created.isoformat(timespec="seconds"),
        }


class Provisioner:
    """The set of instances of one provisioning API. Thread-safe."""

    def __init__(self, host: str = "127.0.0.1", max_instances: int = DEFAULT_MAX_INSTANCES) -> None:
        self.host = host
        self.max_instances = max_instances
        self._lock = threading.Lock()
        self._instances: dict[str, Instance] = {}
        self._starting = 0  # slots reserved by creates still starting their process
        self._used_ports: set[int] = set()

    def create(
        self,
        icat_server_version: str = DEFAULT_ICAT_SERVER_VERSION,
        authn_db_version: str = DEFAULT_AUTHN_DB_VERSION,
        load_fixtures: bool = True,
        users: list[Account] | None = None,
        root_users: list[str] | None = None,
        timezone: str = "UTC",
    ) -> Instance:
        """Start a new instance and return it once it accepts connections (see ``Options``)."""
        if icat_server_version not in SUPPORTED_ICAT_SERVER_VERSIONS:
            raise ProvisioningError(
                400, f"unsupported icat_server_version {icat_server_version!r}",
                supported=list(SUPPORTED_ICAT_SERVER_VERSIONS),
            )
        if authn_db_version not in SUPPORTED_AUTHN_DB_VERSIONS:
            raise ProvisioningError(
                400, f"unsupported authn_db_version {authn_db_version!r}",
                supported=list(SUPPORTED_AUTHN_DB_VERSIONS),
            )
        if any(a.user_name == f"{AUTH_PLUGIN}/{ROOT_USERNAME}" for a in users or ()):
            raise ProvisioningError(400, f"{AUTH_PLUGIN}/{ROOT_USERNAME} is the instance's generated root account")
        options = Options(load_fixtures, tuple(users or ()), tuple(root_users or ()), timezone)
        with self._lock:
            if len(self._instances) + self._starting >= self.max_instances:
                raise ProvisioningError(429, f"at most {self.max_instances} instances; delete one first")
            self._starting += 1
        try:
            instance = self._start(icat_server_version, authn_db_version, options)
            with self._lock:
                self._instances[instance.id] = instance
            return instance
        finally:
            with self._lock:
                self._starting -= 1

    def _start(self, icat_server_version: str, authn_db_version: str, options: Options) -> Instance:
        for _ in range(_START_ATTEMPTS):
            directory = Path(tempfile.mkdtemp(prefix="icat-testbox-"))
            password = secrets.token_urlsafe(18)
            try:
                process, port = _spawn(self.host, directory, password, options)
            except BaseException:
                shutil.rmtree(directory, ignore_errors=True)
                raise
            with self._lock:
                fresh = port not in self._used_ports
                self._used_ports.add(port)
            instance = Instance(
                id=secrets.token_hex(8),
                host=self.host,
                port=port,
                password=password,
                icat_server_version=icat_server_version,
                authn_db_version=authn_db_version,
                options=options,
                process=process,
                directory=directory,
            )
            if fresh:
                return instance
            _stop(instance)
        raise ProvisioningError(503, "could not get a port not used before; try again")

    def get(self, instance_id: str) -> Instance:
        with self._lock:
            instance = self._instances.get(instance_id)
        if instance is None:
            raise ProvisioningError(404, f"no instance {instance_id!r}")
        return instance

    def instances(self) -> list[Instance]:
        with self._lock:
            return sorted(self._instances.values(), key=lambda i: i.created)

    def delete(self, instance_id: str) -> None:
        """Stop the instance's process and remove its directory."""
        with self._lock:
            instance = self._instances.pop(instance_id, None)
        if instance is None:
            raise ProvisioningError(404, f"no instance {instance_id!r}")
        _stop(instance)

    def stop_all(self) -> None:
        """Stop every instance: signal them all first so they shut down in parallel."""
        with self._lock:
            instances = list(self._instances.values())
            self._instances.clear()
        for instance in instances:
            _signal_stop(instance)
        for instance in instances:
            _stop(instance)


def _spawn(host: str, directory: Path, password: str, options: Options) -> tuple[subprocess.Popen, int]:
    """Start an instance process; return it and its port once it listens."""
    log_path = directory / "output.log"
    command = [sys.executable, "-m", "testbox.provisioned", "--host", host, "--port", "0",
               "--db", str(directory / "icat.db"), *options.arguments()]
    secrets_env = {ROOT_PASSWORD_ENV: password, INSTANCE_DIRECTORY_ENV: str(directory), **options.environment()}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,  # never written: closing it tells the child to exit
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ | secrets_env,
            cwd=directory,
        )
    try:
        return process, _wait_for_port(process, log_path)
    except BaseException:
        process.kill()
        process.wait()
        if process.stdin is not None:
            process.stdin.close()
        raise


def _wait_for_port(process: subprocess.Popen, log_path: Path) -> int:
    """The port from the child's ``url:`` line, printed once its socket listens and its
    fixtures are loaded."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        output = log_path.read_text(encoding="utf-8", errors="replace")
        for line in output.splitlines():
            if line.startswith("url: "):
                port = urlsplit(line.removeprefix("url: ").strip()).port
                if port is not None:
                    return port
        if process.poll() is not None:
            raise ProvisioningError(500, "the instance exited while starting", output=output[-4000:])
        time.sleep(_POLL_SECONDS)
    raise ProvisioningError(500, f"the instance did not start within {START_TIMEOUT_SECONDS:.0f} s")


def _signal_stop(instance: Instance) -> None:
    if instance.process.poll() is None:
        instance.process.terminate()


def _stop(instance: Instance) -> None:
    """SIGTERM (the child shuts down cleanly), SIGKILL if it does not, then clean up."""
    _signal_stop(instance)
    try:
        instance.process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        instance.process.kill()
        instance.process.wait()
    if instance.process.stdin is not None:
        instance.process.stdin.close()
    shutil.rmtree(instance.directory, ignore_errors=True)
