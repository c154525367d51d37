"""Helpers shared by the testbox tests (the fixtures live in conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import icat

from testbox.server import SERVICE_PATH

ROOT = ("root", "rootpw")
USER = ("alice", "alicepw")


def make_client(url: str, account: tuple[str, str] | None = ROOT) -> icat.Client:
    client = icat.Client(url + SERVICE_PATH + "?wsdl")
    if account is not None:
        client.login("db", {"username": account[0], "password": account[1]})
    return client


@dataclass
class BoxProcess:
    url: str
    process: subprocess.Popen


def start_testbox_process(*args: str) -> BoxProcess:
    """Run ``icat-testbox icat`` as a separate process and wait for its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "testbox.cli", "icat", "--root", f"{ROOT[0]}:{ROOT[1]}", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    if not first.startswith("url: "):
        process.kill()
        raise RuntimeError(f"icat-testbox did not start: {first!r}")
    return BoxProcess(first.removeprefix("url: ").strip(), process)


def stop_testbox_process(box: BoxProcess) -> int:
    box.process.terminate()
    return box.process.wait(timeout=30)
