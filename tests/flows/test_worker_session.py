"""A worker process logs in to ICAT when it starts, once, and reuses that session; its
startup objects are frozen then too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pacer_celery.bridges.runner import connect
from pacer_celery.settings import get_settings
from tests.core.conftest import send
from tests.flows.conftest import user_message
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def test_prefork_worker_logs_in_at_start_and_once(flow_bridges, checker, uid, tmp_path):
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "pacer_celery", "worker", "--pool=prefork",
         "--concurrency=1", "--without-gossip", "--without-mingle", "--loglevel=INFO",
         f"--logfile={log}"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: log.exists() and "logged in to ICAT as" in log.read_text(), timeout=60,
                 what="the worker process to log in before any message")
        with connect(get_settings()) as broker:
            for i in range(3):
                send(broker, user_message(f"ws{i}{uid}"), routing_key="uos.users")
        for i in range(3):
            wait_for(lambda: checker.search(f"SELECT u FROM User u WHERE u.name = 'uos/ws{i}{uid}'"),
                     timeout=60, what=f"user {i}")
        text = log.read_text()
        assert text.count("logged in to ICAT as") == 1
        # The pool process's startup objects, out of the collector's scans (pacer_celery/heap.py).
        assert text.count("startup objects frozen") == 1
    finally:
        worker.terminate()
        worker.wait(timeout=30)
