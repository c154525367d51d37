"""PACER's moving parts run inside the test process: an in-process Celery worker and a
BridgeRunner in a thread, both on the real broker and the run's journal."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from celery.contrib.testing.worker import start_worker

from pacer_celery.app import app
from pacer_celery.bridges.base import PacerBridge
from pacer_celery.bridges.runner import BridgeRunner, connect
from pacer_celery.journal import journal
from pacer_celery.settings import Settings, get_settings


@contextmanager
def running_worker(concurrency: int = 4) -> Iterator[None]:
    with start_worker(app, pool="threads", concurrency=concurrency, perform_ping_check=False, shutdown_timeout=30):
        yield


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
