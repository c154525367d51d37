"""A real Flower process for dashboard tests, and its HTTP API's task search."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from tests.support.waiting import wait_for


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_flower() -> Iterator[str]:
    """``celery -A pacer_celery flower`` on a free port; yields its base URL."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "pacer_celery", "flower",
         f"--port={port}", "--address=127.0.0.1"],
        env={**os.environ, "FLOWER_UNAUTHENTICATED_API": "true"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{url}/healthcheck", timeout=1).ok
        except requests.ConnectionError:
            return False

    try:
        wait_for(up, timeout=60, what="Flower to answer")
        time.sleep(1)  # let Flower's event consumer attach before tasks run
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def search(flower: str, query: str) -> dict:
    """Flower's task search (``/api/tasks?search=...``): task id → task."""
    response = requests.get(f"{flower}/api/tasks", params={"search": query}, timeout=10)
    response.raise_for_status()
    return response.json()
