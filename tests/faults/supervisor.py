"""Restarts a service that died on its own (or hangs on after a fatal error), as a
supervisor would in production, and records it: a crash nobody injected is a finding,
and the run goes on so that the other figures still mean something."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from tests.support.processes import Service

CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Crash:
    service: str
    #: None: the process hung on after its fatal error (it was killed to restart it).
    exit_code: int | None
    #: Seconds after the supervisor started.
    at: float
    #: The log's last lines before the restart: usually the reason.
    last_words: str

    def describe(self) -> str:
        how = "hung after a fatal error" if self.exit_code is None else f"exited by itself (code {self.exit_code})"
        return f"{self.service} {how} at {self.at:.1f}s:\n{self.last_words}"


class Supervisor(threading.Thread):
    def __init__(self, services: list[Service]) -> None:
        super().__init__(name="fault-supervisor", daemon=True)
        self.services = services
        self.crashes: list[Crash] = []
        self.stopping = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        while not self.stopping.wait(CHECK_SECONDS):
            for service in self.services:
                crashed = service.restart_if_crashed()
                if crashed is not None:
                    code, last_words = crashed
                    crash = Crash(service.name, code, time.monotonic() - self.started_at, last_words)
                    self.crashes.append(crash)
                    print(f"crash: {crash.describe()}", flush=True)

    def stop(self) -> None:
        self.stopping.set()
        self.join()
