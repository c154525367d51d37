"""PACER's commands as processes of their own, the way an operator runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.waiting import wait_for  # noqa: F401 - for tests that poll a command

ROOT = Path(__file__).resolve().parents[2]


class Command:
    """A running command whose output goes to a file (read it with ``output()``)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.handle = log.open("w")
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self.handle, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; output:\n{self.output()[-4000:]}")
            time.sleep(0.1)

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM to the whole process group (a worker's pool too), then wait."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait()
        self.handle.close()
        return code


@contextmanager
def running(args: list[str], env: dict[str, str], log: Path, ready: str) -> Iterator[Command]:
    command = Command(args, env, log)
    try:
        command.wait_for(ready)
        yield command
    finally:
        command.stop()


def pacer(*args: str) -> list[str]:
    return [sys.executable, "-m", "pacer_celery.cli", *args]


def worker(name: str, concurrency: int = 1) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "pacer_celery", "worker", "-c", str(concurrency),
            "-n", f"{name}@%h", "--loglevel=INFO"]
