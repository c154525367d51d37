"""The faults of a run: what breaks, when, and for how long, injected from a thread
while the load is published.

Each fault takes a part down and brings it back (``down`` seconds later):

- ``kill-worker``: SIGKILL a Celery worker's whole process group (main process and its
  pool), then start it again;
- ``kill-bridge``: SIGKILL a ``pacer bridge`` (its sweeper with it), then start it again;
- ``restart-broker``: ``rabbitmqctl stop`` the node, then boot it again on the same data;
- ``crash-broker``: SIGKILL the node, then boot it again on the same data;
- ``stop-icat``: SIGKILL ICAT, then start it again on the same database and port.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.faults.stack import Stack

KINDS = ("kill-worker", "kill-bridge", "restart-broker", "crash-broker", "stop-icat")


@dataclass(frozen=True)
class Fault:
    #: Seconds after the load started.
    at: float
    kind: str
    down: float = 2.0
    #: Which worker or bridge (0 or 1).
    target: int = 0

    @property
    def label(self) -> str:
        part = {"kill-worker": f"worker{self.target + 1}", "kill-bridge": f"bridge{self.target + 1}"}
        return f"{self.kind} {part.get(self.kind, '')}".strip()


@dataclass(frozen=True)
class Injected:
    fault: Fault
    #: Seconds after the load started: when it broke, and when the part was back.
    started: float
    recovered: float

    def describe(self) -> str:
        return (f"{self.fault.label}: at {self.started:.1f}s, down {self.fault.down:.0f}s, "
                f"serving again after {self.recovered - self.started:.1f}s")


def ci() -> list[Fault]:
    """Every kind at least once, in about a minute of load."""
    return [
        Fault(5, "kill-worker", target=0),
        Fault(10, "kill-bridge", target=0),
        Fault(16, "restart-broker", down=3),
        Fault(28, "stop-icat", down=15),
        Fault(48, "kill-worker", target=1),
        Fault(52, "crash-broker", down=2),
        Fault(62, "kill-bridge", target=1),
    ]


def soak(seconds: float, icat_down: float = 60) -> list[Fault]:
    """A round of every kind each ~``icat_down`` + 120 s, for as long as the load lasts."""
    rounds = []
    period = icat_down + 120
    start = 5.0
    while start < seconds:
        rounds += [
            Fault(start, "kill-worker", target=0),
            Fault(start + 15, "kill-bridge", target=1),
            Fault(start + 30, "restart-broker", down=5),
            Fault(start + 50, "stop-icat", down=icat_down),
            Fault(start + icat_down + 70, "kill-worker", target=1),
            Fault(start + icat_down + 85, "crash-broker", down=3),
            Fault(start + icat_down + 100, "kill-bridge", target=0),
        ]
        start += period
    return [fault for fault in rounds if fault.at < seconds]


class Injector(threading.Thread):
    """Injects ``faults`` in order, each at its time after ``started`` (a monotonic clock
    reading); a fault that comes due while another is under way waits for it."""

    def __init__(self, stack: Stack, faults: list[Fault], started: float) -> None:
        super().__init__(name="fault-injector", daemon=True)
        self.stack = stack
        self.faults = sorted(faults, key=lambda f: f.at)
        self.started = started
        self.injected: list[Injected] = []
        self.error: BaseException | None = None
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            for fault in self.faults:
                if self.stopping.wait(max(0.0, self.started + fault.at - time.monotonic())):
                    return
                began = time.monotonic() - self.started
                self._action(fault.kind)(fault)
                injected = Injected(fault, began, time.monotonic() - self.started)
                self.injected.append(injected)
                print(f"fault: {injected.describe()}", flush=True)
        except BaseException as exc:  # noqa: BLE001 - reported by the harness
            self.error = exc

    def _action(self, kind: str) -> Callable[[Fault], None]:
        return {
            "kill-worker": lambda f: self._bounce(self.stack.workers[f.target].kill,
                                                  self.stack.workers[f.target].start, f.down),
            "kill-bridge": lambda f: self._bounce(self.stack.bridges[f.target].kill,
                                                  self.stack.bridges[f.target].start, f.down),
            "restart-broker": lambda f: self._bounce(self.stack.node.stop, self.stack.node.start, f.down),
            "crash-broker": lambda f: self._bounce(self.stack.node.kill, self.stack.node.start, f.down),
            "stop-icat": lambda f: self._bounce(self.stack.icat.service.kill, self.stack.icat.start, f.down),
        }[kind]

    def _bounce(self, down: Callable[[], None], up: Callable[[], None], seconds: float) -> None:
        down()
        self.stopping.wait(seconds)
        up()
