"""A watchdog that kills a harness's process groups if the harness itself dies.

The harness's own ``finally`` blocks stop what it started; they do not run when the
harness is SIGKILLed (or its machine session ends). This small process does: it reads
``+PGID`` / ``-PGID`` lines on its stdin (a pipe from the harness) and, when the pipe
closes without a ``-`` for a group, SIGKILLs that group. Run as
``python -m tests.support.reaper``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading


def main() -> None:
    groups: set[int] = set()
    for line in sys.stdin:
        sign, number = line[:1], line[1:].strip()
        if sign == "+":
            groups.add(int(number))
        elif sign == "-":
            groups.discard(int(number))
    for group in groups:  # the harness died (or forgot one): nothing of it may linger
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Reaper:
    """The harness's end of the pipe: tell it every group started and every group ended."""

    def __init__(self) -> None:
        # Its own session: a SIGKILL of the harness's group must not take the reaper too.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.reaper"],
            stdin=subprocess.PIPE, text=True, start_new_session=True,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        )
        self.lock = threading.Lock()

    def watch(self, group: int) -> None:
        self._say(f"+{group}")

    def forget(self, group: int) -> None:
        self._say(f"-{group}")

    def close(self) -> None:
        """Normal end: every group was stopped already; the reaper exits."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=10)

    def _say(self, line: str) -> None:
        assert self.process.stdin is not None
        with self.lock:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()


if __name__ == "__main__":
    main()
