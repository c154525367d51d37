"""A worker process killed mid-chain: the task comes back and the chain completes, with no
step applied twice in effect."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.conftest import records, send, wait_for
from tests.support import probe
from tests.support.pipeline import running_bridges

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def prefork_worker():
    """A real ``celery worker`` with a prefork child, as in production."""
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "pacer_celery", "worker", "--pool=prefork",
         "--concurrency=1", "--include=tests.support.probe", "--without-gossip",
         "--without-mingle", "--loglevel=INFO"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture
def bridge():
    with running_bridges([probe.ProbeBridge()]) as runner:
        yield runner


def test_chain_completes_after_its_worker_process_is_killed(prefork_worker, bridge, broker, run):
    send(broker, {"run": run, "item": "k", "faults": {"second": "hang-once"}})
    db = probe.store()
    pid = int(wait_for(lambda: db.get(f"{run}:k:hanging"), timeout=60, what="step two to start"))
    assert pid != prefork_worker.pid  # the pool's child, not the main process
    os.kill(pid, signal.SIGKILL)

    wait_for(lambda: len(records(run, "k")["effects"]) == 3, timeout=60, what="the chain to finish")
    assert records(run, "k")["executions"] == ["first", "second", "second", "third"]
    assert records(run, "k")["effects"] == {"first", "second", "third"}
