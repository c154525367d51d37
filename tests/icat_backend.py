"""The ICAT the test suite runs against (pytest plugin; fixture ``icat_backend``).

Chosen by environment variables, as the original PACER documented them:

- ``PACER_TEST_BACKEND``: ``testbox`` (default) or ``server``.
- ``testbox``: an instance from the provisioning API (``icat-testbox serve``) at
  ``ICAT_TESTBOX_SERVER_PROTOCOL`` (http) ``://ICAT_TESTBOX_SERVER_HOST:ICAT_TESTBOX_SERVER_PORT``
  (5000). With ``ICAT_TESTBOX_SERVER_HOST`` unset, the suite starts a local API itself on a free
  port and stops it, with its instances, at the end. The instance is created with
  ``ICAT_TESTBOX_ICAT_SERVER_VERSION`` (6.2.0), ``ICAT_TESTBOX_AUTHN_DB_VERSION`` (3.0.0) and
  ``ICAT_TESTBOX_DB_FIXTURE_LOAD`` (True), and deleted at the end if
  ``ICAT_TESTBOX_DELETE_AFTER_TESTS_RUN`` (False) is true, so by default it can be inspected
  after a run against a long-lived API.
- ``server``: a real ICAT at ``ICAT_SERVER_URL`` with ``ICAT_AUTH_PLUGIN`` (db),
  ``ICAT_AUTH_USERNAME`` and ``ICAT_AUTH_PASSWORD``.

Either way the fixture puts ``ICAT_SERVER_URL`` and ``ICAT_AUTH_*`` into ``os.environ`` for
the session (and clears PACER's cached settings), so code under test that reads its
settings from the environment uses the same ICAT; the previous values come back at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import icat
import pytest

from pacer_celery.icat.session import service_url
from pacer_celery.settings import get_settings

BACKENDS = ("testbox", "server")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_API_STOP_SECONDS = 30


@dataclass(frozen=True)
class IcatBackend:
    """Where the ICAT under test is and how to log in to it."""

    url: str
    auth_plugin: str
    username: str
    password: str = field(repr=False)

    def client(self) -> icat.Client:
        """A new python-icat client, logged in; the caller logs it out."""
        client = icat.Client(service_url(self.url), checkCert=_flag("ICAT_CHECK_CERT", True))
        client.login(self.auth_plugin, {"username": self.username, "password": self.password})
        return client

    def environment(self) -> dict[str, str]:
        """The variables PACER reads to reach this ICAT."""
        return {
            "ICAT_SERVER_URL": self.url,
            "ICAT_AUTH_PLUGIN": self.auth_plugin,
            "ICAT_AUTH_USERNAME": self.username,
            "ICAT_AUTH_PASSWORD": self.password,
        }


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    pytest.fail(f"{name} must be true or false, got {value!r}", pytrace=False)


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"PACER_TEST_BACKEND=server needs {name}", pytrace=False)
    return value


def _api_request(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    """One JSON call to the provisioning API; an error answer fails the test set-up."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            text = response.read()
    except urllib.error.HTTPError as exc:
        pytest.fail(f"{method} {url}: {exc.code} {exc.read().decode('utf-8', 'replace')}", pytrace=False)
    except urllib.error.URLError as exc:
        pytest.fail(f"{method} {url}: the provisioning API is unreachable ({exc.reason})", pytrace=False)
    return json.loads(text) if text else None


def _start_local_api(log_path: Path) -> tuple[subprocess.Popen, str]:
    """``icat-testbox serve`` on a free port; returns the process and the API's URL."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "testbox.cli", "serve", "--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=log,  # its request log, kept out of the test output but there for diagnosis
            text=True,
        )
    assert process.stdout is not None
    first = process.stdout.readline()  # "url: ..." once it listens
    if not first.startswith("url: "):
        process.kill()
        process.wait()
        pytest.fail(f"icat-testbox serve did not start (see {log_path}): {first!r}", pytrace=False)
    return process, first.removeprefix("url: ").strip()


def _stop_local_api(process: subprocess.Popen) -> None:
    process.terminate()  # the API stops its instances before it exits
    try:
        process.wait(timeout=_API_STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def icat_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IcatBackend]:
    """The ICAT under test, its variables exported to ``os.environ`` for the session."""
    kind = os.environ.get("PACER_TEST_BACKEND", "testbox")
    if kind not in BACKENDS:
        pytest.fail(f"PACER_TEST_BACKEND must be one of {', '.join(BACKENDS)}, got {kind!r}", pytrace=False)

    api_process = None
    instance_url = None
    if kind == "server":
        backend = IcatBackend(
            url=_required("ICAT_SERVER_URL"),
            auth_plugin=os.environ.get("ICAT_AUTH_PLUGIN") or "db",
            username=_required("ICAT_AUTH_USERNAME"),
            password=_required("ICAT_AUTH_PASSWORD"),
        )
    else:
        host = os.environ.get("ICAT_TESTBOX_SERVER_HOST")
        if host:
            protocol = os.environ.get("ICAT_TESTBOX_SERVER_PROTOCOL") or "http"
            port = os.environ.get("ICAT_TESTBOX_SERVER_PORT") or "5000"
            api_url = f"{protocol}://{host}:{port}"
        else:
            api_process, api_url = _start_local_api(tmp_path_factory.mktemp("icat-testbox") / "serve.log")
        try:
            created = _api_request("POST", f"{api_url}/instances", {
                "icat_server_version": os.environ.get("ICAT_TESTBOX_ICAT_SERVER_VERSION") or "6.2.0",
                "authn_db_version": os.environ.get("ICAT_TESTBOX_AUTHN_DB_VERSION") or "3.0.0",
                "load_fixtures": _flag("ICAT_TESTBOX_DB_FIXTURE_LOAD", True),
            })
        except BaseException:
            if api_process is not None:
                _stop_local_api(api_process)
            raise
        instance_url = f"{api_url}/instances/{created['id']}"
        backend = IcatBackend(created["url"], created["auth_plugin"], created["username"], created["password"])

    saved = {name: os.environ.get(name) for name in backend.environment()}
    os.environ.update(backend.environment())
    get_settings.cache_clear()  # settings are read once per process; make them read ours
    try:
        yield backend
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
        try:
            if instance_url is not None and _flag("ICAT_TESTBOX_DELETE_AFTER_TESTS_RUN", False):
                _api_request("DELETE", instance_url)
        finally:
            if api_process is not None:
                _stop_local_api(api_process)
