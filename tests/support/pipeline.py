"""PACER's moving parts for tests, on the real broker and the run's journal: an
in-process Celery worker (threads pool) or a real prefork ``celery worker`` process, and
a BridgeRunner in a thread."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from celery.contrib.testing.worker import start_worker
from celery.worker import state as worker_state

from pacer_celery.app import app
from pacer_celery.bridges.base import PacerBridge
from pacer_celery.bridges.runner import BridgeRunner, connect
from pacer_celery.journal import journal
from pacer_celery.settings import Settings, get_settings


ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def running_worker(concurrency: int = 4) -> Iterator[None]:
    # Celery's test worker leaves its stop flag set when a worker outlives the shutdown
    # timeout: the next one would stop at once, and start_worker wait for it forever.
    worker_state.should_terminate = worker_state.should_stop = None
    with start_worker(app, pool="threads", concurrency=concurrency, perform_ping_check=False, shutdown_timeout=60):
        yield


@contextmanager
def running_prefork_worker(concurrency: int = 1) -> Iterator[subprocess.Popen]:
    """A real ``celery worker`` with prefork children, as in production. Needed where
    connections break: the threads pool acks from its task threads on the consumer's
    connection, which py-amqp does not share safely across threads."""
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "pacer_celery", "worker", "--pool=prefork",
         f"--concurrency={concurrency}", "--include=tests.support.probe", "--without-gossip",
         "--without-mingle", "--loglevel=INFO"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def running_bridges(
    bridges: list[PacerBridge], settings: Settings | None = None, *, sweep: bool = False
) -> Iterator[BridgeRunner]:
    settings = settings or get_settings()
    with connect(settings) as connection:
        runner = BridgeRunner(connection, bridges, settings, journal(), sweep=sweep)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        assert runner.ready.wait(30), "bridges did not start consuming"
        try:
            yield runner
        finally:
            runner.should_stop = True
            thread.join(timeout=10)
