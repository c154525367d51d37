"""A private RabbitMQ node for a test: its own node name, ports, data, logs and cookie,
so that it can be stopped, killed and started again without touching the machine's
shared broker (other engineers' tests use that one).

What it takes on a Debian machine, found out the hard way:

- ``/usr/sbin/rabbitmq-server`` and ``/usr/sbin/rabbitmqctl`` are wrappers that, run as
  root, switch to the ``rabbitmq`` user (``su``): its home (``/var/lib/rabbitmq``), its
  Erlang cookie, and no right to write our temporary directory. The real scripts are in
  ``/usr/lib/rabbitmq/bin``; we run those, as ourselves.
- The CLI authenticates to the node with the Erlang cookie in ``$HOME/.erlang.cookie``.
  Server and CLI both get a ``HOME`` in the node's directory holding a cookie of its own:
  nobody's real ``~/.erlang.cookie`` is read or created.
- ``/etc/rabbitmq/rabbitmq-env.conf`` names the shared node (``NODENAME=rabbit@localhost``):
  ``RABBITMQ_CONF_ENV_FILE`` points at an empty file of ours instead, and the config,
  advanced config and enabled-plugins files are ours too (no plugins: a faster boot).
- The AMQP port and the Erlang distribution port (``RABBITMQ_DIST_PORT``; the shared
  node's is 25672) are free ports picked at random; epmd (4369) is shared, which is how
  the CLI finds the node by name.
- ``rabbitmqctl await_startup`` fails at once until the node has registered with epmd,
  so it is retried until it succeeds or the node process exits.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from tests.support.processes import Service, ServiceFailed, free_port, last_lines, wait_for_port
from tests.support.reaper import Reaper

#: Where Debian keeps the real scripts behind the /usr/sbin wrappers.
DEBIAN_SCRIPTS = Path("/usr/lib/rabbitmq/bin")
BOOT_SECONDS = 90.0
CTL_SECONDS = 60.0


def _scripts() -> Path:
    if (DEBIAN_SCRIPTS / "rabbitmq-server").exists():
        return DEBIAN_SCRIPTS
    found = shutil.which("rabbitmq-server")
    if found is None:
        raise ServiceFailed("rabbitmq-server is not installed")
    return Path(found).resolve().parent


class RabbitNode:
    """Start it with ``start()``; ``close()`` stops it for good (safe to call twice)."""

    def __init__(self, directory: Path, reaper: Reaper) -> None:
        self.directory = directory
        self.name = f"pacer-faults-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.scripts = _scripts()
        home = directory / "home"
        home.mkdir(parents=True)
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)
        (directory / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            # The node shares the machine's disk with everyone's tests: never block
            # publishers because someone else filled it a little.
            "disk_free_limit.absolute = 10MB\n"
        )
        (directory / "enabled_plugins").write_text("[].\n")
        (directory / "rabbitmq-env.conf").write_text("")
        self.env = {
            **os.environ,
            "HOME": str(home),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(directory / "log"),
            "RABBITMQ_CONFIG_FILE": str(directory / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(directory / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(directory / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(directory / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(directory / "rabbitmq.pid"),
            # Distribution on loopback only, and epmd (if this node has to start it) too.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        self.service = Service(
            "rabbitmq", [str(self.scripts / "rabbitmq-server")], env=self.env, cwd=directory,
            log=directory / "rabbitmq-server.log", ready="Starting broker", reaper=reaper,
        )

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self) -> None:
        """Boot the node (on whatever data its directory holds) and wait until it serves AMQP."""
        self.service.start(timeout=BOOT_SECONDS)
        deadline = time.monotonic() + BOOT_SECONDS
        while self.ctl("await_startup", "--timeout", "10", check=False).returncode != 0:
            if not self.service.running:
                raise ServiceFailed(f"RabbitMQ node {self.name} exited while booting:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise ServiceFailed(f"RabbitMQ node {self.name} not up after {BOOT_SECONDS}s:\n{self.log_tail()}")
            time.sleep(0.5)
        wait_for_port(self.port, BOOT_SECONDS, self.log_tail)

    def stop(self) -> None:
        """A clean stop of the whole node (``rabbitmqctl stop``); its data stays."""
        self.service.stop(graceful=lambda: self.ctl("stop", check=False))

    def kill(self) -> None:
        """A crash: SIGKILL the node's processes; persistent messages survive on disk."""
        self.service.kill()

    def close(self) -> None:
        if self.service.running:
            self.stop()

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``rabbitmqctl -n NODE ARGS`` with the node's cookie."""
        result = subprocess.run(
            [str(self.scripts / "rabbitmqctl"), "-n", self.name, "-q", *args],
            env=self.env, capture_output=True, text=True, timeout=CTL_SECONDS,
        )
        if check and result.returncode != 0:
            raise ServiceFailed(f"rabbitmqctl {' '.join(args)}: {result.stderr or result.stdout}")
        return result

    def queue_depths(self) -> dict[str, int]:
        """Queue name → messages in it, ready and unacked (a worker's retries wait unacked)."""
        listed = self.ctl("list_queues", "name", "messages", "--no-table-headers").stdout
        return {name: int(count) for name, count in (line.split("\t") for line in listed.splitlines() if line)}

    def log_tail(self) -> str:
        logs = sorted((self.directory / "log").glob("*.log"))
        return self.service.tail() + "".join(f"\n== {log}\n{last_lines(log, 30)}" for log in logs)

