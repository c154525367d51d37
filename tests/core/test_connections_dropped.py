"""The broker drops every connection in the middle of a burst (a restart, a network cut):
nothing is lost and nothing is dispatched twice.

The worker is a real prefork ``celery worker``, as in production: the suite's in-process
worker (threads pool) acks from its task threads on the consumer's connection, and a
connection that breaks under it can leave it unable to recover.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pacer_celery.bridges.runner import BridgeRunner
from pacer_celery.journal import journal, search
from pacer_celery.settings import get_settings
from tests.conftest import rabbitmqctl
from tests.core.conftest import records, send, wait_for
from tests.core.test_broker_refuses import queued
from tests.core.test_no_loss import journaled, settled
from tests.support import probe
from tests.support.pipeline import running_bridges, running_prefork_worker

MESSAGES = 60


@pytest.fixture
def pipeline() -> Iterator[BridgeRunner]:
    with running_prefork_worker(concurrency=2), running_bridges([probe.ProbeBridge()]) as runner:
        yield runner


def test_connections_dropped_mid_burst_lose_nothing_and_dispatch_nothing_twice(pipeline, broker, run):
    # A first message through: the worker is consuming when the connections drop.
    send(broker, {"run": run, "item": "warm-up"})
    wait_for(lambda: settled(run, 1), timeout=60, what="the worker to take a first message")
    for i in range(MESSAGES):
        send(broker, {"run": run, "item": f"c{i}"})
        if i == MESSAGES // 2:
            rabbitmqctl("close_all_connections", "-p", get_settings().rmq_virtual_host, "tests: broker trouble")
            broker.close()
            broker.ensure_connection(max_retries=10)
    wait_for(lambda: settled(run, MESSAGES + 1), timeout=180, what=f"all {MESSAGES} messages done")
    for i in range(MESSAGES):
        assert records(run, f"c{i}")["effects"] == {"first", "second", "third"}
    with journal().engine.connect() as connection:
        dispatches = {search.timeline(connection, r.message_id).message["dispatch"] for r in journaled(run)}
    assert dispatches == {1}
    wait_for(lambda: queued("pacer.probe") == 0, what="no input held by the bridge")
