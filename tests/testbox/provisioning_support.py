"""Helpers for tests of the provisioning API: a real ``icat-testbox serve`` process."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import icat
import pytest

from testbox.server import SERVICE_PATH


@dataclass
class Api:
    url: str
    process: subprocess.Popen

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> tuple[int, Any, dict]:
        """Status, decoded JSON answer (or None) and headers."""
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        try:
            payload = raw if raw is not None else (None if body is None else json.dumps(body).encode())
            conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            text = response.read()
            return response.status, json.loads(text) if text else None, dict(response.getheaders())
        finally:
            conn.close()

    def create(self, **body: Any) -> dict[str, Any]:
        status, answer, _ = self.call("POST", "/instances", body)
        assert status == 201, answer
        return answer


def start_api(log: Path, *args: str) -> Api:
    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "testbox.cli", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=stderr, text=True,
        )
    first = process.stdout.readline()
    assert first.startswith("url: "), first
    return Api(first.removeprefix("url: ").strip(), process)


def stop_api(api: Api) -> int:
    api.process.terminate()
    return api.process.wait(timeout=60)


def running_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """Body of a module-scoped ``api`` fixture: one API for the module's tests."""
    a = start_api(tmp_path_factory.mktemp("serve") / "serve.log")
    yield a
    stop_api(a)


def login(instance: dict[str, Any]) -> icat.Client:
    client = icat.Client(instance["url"] + SERVICE_PATH + "?wsdl")
    client.login(instance["auth_plugin"], {"username": instance["username"], "password": instance["password"]})
    return client


def refuses_connections(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_until(condition: Callable[[], bool], seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()
