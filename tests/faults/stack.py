"""Everything a fault run needs, started as real processes: a private RabbitMQ node, an
ICAT testbox on a database file, a PostgreSQL journal of its own, and PACER's bridges
and workers, each a service that can be killed and started again.

``running_stack(directory)`` starts it all and, whatever happens, stops it all and drops
the journal's database; the logs stay in ``directory``.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import icat
from sqlalchemy import select
from sqlalchemy.engine import make_url

from pacer_celery.journal.database import dispose_all, engine_for
from pacer_celery.journal.schema import messages

from tests.conftest import POSTGRES_URL, postgres
from tests.support.processes import Service, ServiceFailed, free_port, last_lines, wait_for_port
from tests.support.rabbit_node import RabbitNode
from tests.support.reaper import Reaper

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "tests" / "flows" / "reference.yaml"
FACILITY = "PACER"
ICAT_USER = "root"


@dataclass(frozen=True)
class Tuning:
    """PACER's settings for a fault run: short leases and a quick sweeper, so that dead
    workers and vanished chains are noticed within seconds; fast retries, but enough of
    them to ride out the longest ICAT outage of the schedule."""

    step_lease_seconds: float = 5
    stalled_after_seconds: float = 30
    sweep_interval_seconds: float = 5
    retry_backoff_seconds: float = 0.5
    retry_backoff_max_seconds: float = 5
    max_retries: int = 40
    max_redispatch: int = 3
    #: Worker kills per step attempt before a message counts as a poison: more than
    #: the schedule ever kills, so that only a real poison would reach it.
    max_worker_losses: int = 10
    missing_investigation_timeout: float = 900

    def environment(self) -> dict[str, str]:
        return {f"PACER_{name.upper()}": str(value) for name, value in self.__dict__.items()}


class IcatServer:
    """``icat-testbox icat`` on a database file and a fixed port: stopped and started
    again, it is the same ICAT at the same URL, as a restarted real ICAT is."""

    def __init__(self, directory: Path, reaper: Reaper, env: dict[str, str]) -> None:
        self.port = free_port()
        self.password = secrets.token_urlsafe(12)
        self.url = f"http://127.0.0.1:{self.port}"
        self.service = Service(
            "icat",
            [sys.executable, "-m", "testbox.cli", "icat", "--port", str(self.port),
             "--db", str(directory / "icat.db"), "--root", f"{ICAT_USER}:{self.password}"],
            env=env, cwd=directory, log=directory / "icat.log", ready="db: ", reaper=reaper,
        )
        self.wsdl: bytes | None = None

    def environment(self) -> dict[str, str]:
        return {
            "ICAT_SERVER_URL": self.url,
            "ICAT_AUTH_PLUGIN": "db",
            "ICAT_AUTH_USERNAME": ICAT_USER,
            "ICAT_AUTH_PASSWORD": self.password,
            "PACER_ICAT_FACILITY": FACILITY,
        }

    def start(self) -> None:
        self.service.start()
        wait_for_port(self.port, 30, self.service.tail)
        # PACER's workers keep the WSDL suds cached from the first start (suds caches it
        # per URL): a restarted ICAT must serve the very same one.
        with urllib.request.urlopen(f"{self.url}/ICATService/ICAT?wsdl", timeout=30) as answer:
            wsdl = answer.read()
        if self.wsdl is not None and wsdl != self.wsdl:
            raise ServiceFailed("the restarted ICAT serves another WSDL than before: suds' cache would be stale")
        self.wsdl = wsdl

    def client(self) -> icat.Client:
        """A new python-icat client, logged in as root; the caller logs out."""
        client = icat.Client(f"{self.url}/ICATService/ICAT?wsdl")
        client.login("db", {"username": ICAT_USER, "password": self.password})
        return client


class Stack:
    def __init__(
        self, directory: Path, exits: ExitStack, tuning: Tuning, extra: dict[str, str], *, bridges: int = 2,
        workers: int = 2, concurrency: int = 2,
    ) -> None:
        self.directory = directory
        self.reaper = Reaper()
        exits.callback(self.reaper.close)
        self.node = RabbitNode(directory / "rabbit", self.reaper)
        exits.callback(self.node.close)
        self.journal_url = _journal_database(exits)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PACER_", "ICAT_"))}
        base["PYTHONPATH"] = str(ROOT)
        self.icat = IcatServer(directory, self.reaper, base)
        exits.callback(self.icat.service.stop)
        self.env = {
            **base,
            **tuning.environment(),
            **self.icat.environment(),
            "PACER_RMQ_HOST": "127.0.0.1",
            "PACER_RMQ_PORT": str(self.node.port),
            "PACER_RMQ_VIRTUAL_HOST": "/",
            "PACER_JOURNAL_URL": self.journal_url,
            # Steps store no results; Celery still wants a backend URL.
            "PACER_RESULT_BACKEND": "redis://127.0.0.1:6379/14",
            **extra,
        }
        self.bridges = [self._service(f"bridge{i}", ["-m", "pacer_celery.cli", "bridge"], "bridges consuming from")
                        for i in range(1, bridges + 1)]
        self.workers = [
            self._service(f"worker{i}", ["-m", "celery", "-A", "pacer_celery", "worker", "-c", str(concurrency),
                                         "-n", f"faults{i}@%h", "--loglevel=INFO"], " ready.",
                          # After it, Celery's main process stays alive but consumes nothing.
                          fatal="Unrecoverable error")
            for i in range(1, workers + 1)
        ]
        for service in (*self.bridges, *self.workers):
            exits.callback(service.stop)

    def _service(self, name: str, args: list[str], ready: str, fatal: str | None = None) -> Service:
        return Service(name, [sys.executable, *args], env=self.env, cwd=self.directory,
                       log=self.directory / f"{name}.log", ready=ready, reaper=self.reaper, fatal=fatal)

    def start(self) -> None:
        self.node.start()
        self.icat.start()
        self.pacer("icat", "init-reference", str(REFERENCE))
        # Once, before four processes would race to create the journal's schema.
        self.pacer("journal", "upgrade")
        for service in (*self.bridges, *self.workers):
            service.start()

    def pacer(self, *args: str) -> None:
        result = subprocess.run([sys.executable, "-m", "pacer_celery.cli", *args], env=self.env,
                                cwd=self.directory, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise ServiceFailed(f"pacer {' '.join(args)}: {result.stdout}{result.stderr}")

    def status(self, message_id: str) -> str | None:
        """The message's status in the journal (None: not journaled)."""
        with engine_for(self.journal_url).connect() as connection:
            return connection.execute(
                select(messages.c.status).where(messages.c.message_id == message_id)
            ).scalar_one_or_none()

    @property
    def services(self) -> list[Service]:
        return [self.node.service, self.icat.service, *self.bridges, *self.workers]

    def logs(self, lines: int = 40) -> str:
        """The end of every log, and the errors in it: what a failed run prints."""
        parts = []
        for service in self.services:
            errors = [line for line in service.log.read_text(errors="replace").splitlines()
                      if " ERROR " in line or "CRITICAL" in line or "Traceback" in line][-lines:]
            parts.append(f"==== {service.log} (errors: {len(errors)} shown)\n" + "\n".join(errors))
            parts.append(f"==== {service.log} (last {lines} lines)\n{last_lines(service.log, lines)}")
        return "\n".join(parts)


def _journal_database(exits: ExitStack) -> str:
    """A PostgreSQL database of the run's own, dropped at the end."""
    name = f"pacer_faults_{uuid.uuid4().hex[:8]}"
    with postgres() as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        dispose_all()
        with postgres() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    exits.callback(drop)
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


@contextmanager
def running_stack(
    directory: Path, tuning: Tuning | None = None, *, bridges: int = 2, workers: int = 2, concurrency: int = 2,
    **extra: str,
) -> Iterator[Stack]:
    """``bridges``, ``workers``: how many ``pacer bridge`` and ``celery worker -c
    concurrency`` processes; ``extra``: more environment for them (``PACER_BRIDGE_MODULES``, say)."""
    with ExitStack() as exits:
        stack = Stack(directory, exits, tuning or Tuning(), extra, bridges=bridges, workers=workers,
                      concurrency=concurrency)
        stack.start()
        yield stack
