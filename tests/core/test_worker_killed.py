"""A worker process killed mid-chain: the task comes back and the chain completes, with no
step applied twice in effect."""

from __future__ import annotations

import os
import signal

import pytest

from tests.core.conftest import records, send, wait_for
from tests.support import probe
from tests.support.pipeline import running_bridges, running_prefork_worker


@pytest.fixture
def prefork_worker():
    with running_prefork_worker() as process:
        yield process


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
