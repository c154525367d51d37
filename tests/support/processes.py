"""Commands run as services of a test: each in a process group of its own (so a SIGKILL
takes the main process and every child it forked), its output appended to one log file
across restarts, and a readiness line to wait for."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tests.support.reaper import Reaper

#: How long a SIGTERMed service may take to stop before it is SIGKILLed.
STOP_SECONDS = 30.0


class ServiceFailed(AssertionError):
    """A service did not come up; the message carries the end of its log."""


class Service:
    """One command as a service. ``wanted`` says whether it should be running: a process
    that exits while wanted has crashed, and so has one whose log shows its ``fatal``
    text (a Celery worker that hit an "Unrecoverable error" hangs on, consuming nothing).
    See ``restart_if_crashed``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log: Path,
        ready: str,
        reaper: Reaper,
        fatal: str | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.log = log
        #: The text in the log that says a fresh start is ready to work.
        self.ready = ready
        self.fatal = fatal
        #: Where the log of the last start begins, and how far it was searched for ``fatal``.
        self.started_at = self.scanned = 0
        self.reaper = reaper
        self.process: subprocess.Popen | None = None
        self.wanted = False
        #: One of start, stop, kill and the crash check at a time (the fault injector and
        #: the supervisor act on the same services).
        self.lock = threading.RLock()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        """Start it and return once its readiness line appears in the log (after this start)."""
        with self.lock:
            assert not self.running, f"{self.name} is running already"
            self._reap()  # a crashed predecessor
            self.wanted = True
            with open(self.log, "ab") as log:
                log.write(f"\n--- {time.strftime('%H:%M:%S')} harness: starting {self.name}\n".encode())
                offset = self.started_at = self.scanned = log.tell()
                self.process = subprocess.Popen(
                    self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )
            self.reaper.watch(self.process.pid)
            self.wait_for_log(self.ready, since=offset, timeout=timeout)

    def wait_for_log(self, text: str, *, since: int = 0, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log, "rb") as log:
                log.seek(since)
                if text.encode() in log.read():
                    return
            if not self.running:
                raise ServiceFailed(f"{self.name} exited before it was ready:\n{self.tail()}")
            time.sleep(0.1)
        raise ServiceFailed(f"{self.name}: no {text!r} in its log after {timeout}s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL the whole process group: no clean-up, no goodbye, as a crash."""
        with self.lock:
            self.wanted = False
            self._reap()

    def stop(self, graceful: Callable[[], object] | None = None) -> None:
        """Ask it to stop (``graceful``, else SIGTERM to the group), then SIGKILL whatever
        is left of the group after STOP_SECONDS."""
        with self.lock:
            self.wanted = False
            if self.process is None:
                return
            if graceful is None:
                self._signal_group(signal.SIGTERM)
            else:
                graceful()
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                pass
            self._reap()

    def restart_if_crashed(self) -> tuple[int | None, str] | None:
        """If it exited while wanted, or shows its fatal text, (kill and) start it again,
        as a supervisor would; the crashed process's exit code (None: it hung on) and what
        its log says: its CRITICAL lines (the cause, usually) and its last lines."""
        with self.lock:
            if not self.wanted or self.process is None:
                return None
            if self.process.poll() is None and not self._fatal_logged():
                return None
            crashed = self.process.returncode, "\n".join([*self._critical(), "...", self.tail(12)])
            self._reap()
            self.start()
            return crashed

    def _critical(self, most: int = 3) -> list[str]:
        with open(self.log, "rb") as log:
            log.seek(self.started_at)
            lines = log.read().decode(errors="replace").splitlines()
        return [line for line in lines if "CRITICAL" in line][:most]

    def _fatal_logged(self) -> bool:
        if self.fatal is None:
            return False
        with open(self.log, "rb") as log:
            log.seek(max(0, self.scanned - len(self.fatal)))
            text = log.read()
        self.scanned += len(text) - min(self.scanned, len(self.fatal))
        return self.fatal.encode() in text

    def _signal_group(self, signum: int) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def _reap(self) -> None:
        """SIGKILL what is left of the group (a dead main process's children too), and
        collect the main process."""
        if self.process is None:
            return
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=STOP_SECONDS)
        self.reaper.forget(self.process.pid)
        self.process = None

    def tail(self, lines: int = 60) -> str:
        return last_lines(self.log, lines)


def last_lines(path: Path, lines: int = 60) -> str:
    """The end of a log (read from its last 64 KiB: logs of a soak are large)."""
    if not path.exists():
        return f"(no {path.name})"
    with open(path, "rb") as log:
        log.seek(max(0, log.seek(0, os.SEEK_END) - 65536))
        return "\n".join(log.read().decode(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float, why: Callable[[], str]) -> None:
    """Until something accepts connections on 127.0.0.1:``port``; ``why`` explains a failure."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise ServiceFailed(f"nothing listens on port {port} after {timeout:.0f}s:\n{why()}") from None
            time.sleep(0.2)
