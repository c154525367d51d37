"""Entry point of one provisioned ICAT process (started by ``testbox.provisioner``).

It is ``icat-testbox icat`` with two differences: the root account is ``root`` with the
password from the environment, as are the other accounts (kept off the command line, which
any local user can read), and the process shuts down when its stdin reaches end of file. The provisioning API holds
the other end of that pipe, so if the API dies, even by SIGKILL, its instances follow it
instead of lingering as orphans, and remove their directory (which the API would have
removed) on the way out.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import threading
from collections.abc import Sequence

from testbox import cli
from testbox.provisioner import INSTANCE_DIRECTORY_ENV, ROOT_PASSWORD_ENV, ROOT_USERNAME, USERS_ENV

_orphaned = threading.Event()


def _terminate_at_stdin_eof() -> None:
    # The API closes the pipe only after its instance has exited, so end of file while
    # running means the API is gone.
    sys.stdin.buffer.read()
    _orphaned.set()
    os.kill(os.getpid(), signal.SIGTERM)  # the same clean shutdown as a SIGTERM from outside


def main(argv: Sequence[str]) -> int:
    """Run ``icat-testbox icat`` with ``argv`` and the root account from the environment."""
    if ROOT_PASSWORD_ENV not in os.environ or INSTANCE_DIRECTORY_ENV not in os.environ:
        raise SystemExit(f"started by the provisioning API only: needs {ROOT_PASSWORD_ENV} and {INSTANCE_DIRECTORY_ENV}")
    password = os.environ.pop(ROOT_PASSWORD_ENV)
    directory = os.environ.pop(INSTANCE_DIRECTORY_ENV)
    users = [f"{a['plugin']}/{a['name']}:{a['password']}" for a in json.loads(os.environ.pop(USERS_ENV, "[]"))]
    threading.Thread(target=_terminate_at_stdin_eof, name="parent-watch", daemon=True).start()
    # In-process arguments: they never show in this process's command line.
    accounts = [arg for user in users for arg in ("--user", user)]
    status = cli.main(["icat", *argv, "--root", f"{ROOT_USERNAME}:{password}", *accounts])
    if _orphaned.is_set():
        shutil.rmtree(directory, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
