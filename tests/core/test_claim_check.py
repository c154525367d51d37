"""The claim check and the sweeper, with no worker running unless a test starts one:
task messages carry ids, not bodies, and a chain whose link vanished is completed from
the journal."""

from __future__ import annotations

import json
import threading
import time
import uuid
from contextlib import contextmanager

import pytest
from kombu import Producer, compression

from pacer_celery import topology
from pacer_celery.bridges.runner import connect
from pacer_celery.envelope import raw_body
from pacer_celery.journal import journal, search
from pacer_celery.settings import get_settings
from pacer_celery.sweeper import Sweeper
from tests.core.conftest import records, send, wait_for
from tests.support import probe
from tests.support.pipeline import running_bridges, running_worker


def journaled(run: str, item: str):
    with journal().engine.connect() as connection:
        return search.search(connection, search.parse(f"run={run} probe={item}"))


def take_task_message(broker):
    """The next task message in pacer.tasks, taken off the queue (as if lost)."""
    queue = topology.task_queue()(broker.default_channel)
    message = wait_for(lambda: queue.get(no_ack=False), what="a task message in pacer.tasks")
    message.ack()
    return message


def put_back(broker, message) -> None:
    """Publish a taken task message again, as it was."""
    Producer(broker.default_channel).publish(
        message.body, exchange="", routing_key=topology.TASK_QUEUE, headers=message.headers,
        content_type=message.content_type, content_encoding=message.content_encoding,
        correlation_id=message.properties.get("correlation_id"),
    )


@pytest.fixture
def bridge_only(broker):
    """The probe bridge, and no worker: task messages stay in pacer.tasks."""
    with running_bridges([probe.ProbeBridge()]) as runner:
        yield runner


def test_task_messages_carry_the_message_id_not_the_body(bridge_only, broker, run):
    marker = f"body-only-{uuid.uuid4().hex}"
    send(broker, {"run": run, "item": "claim", "faults": {}, "note": marker})
    message = take_task_message(broker)
    body = raw_body(message)
    if message.headers.get("compression"):
        body = compression.decompress(body, message.headers["compression"])
    assert marker.encode() not in body
    _, kwargs, embed = json.loads(body)
    assert kwargs["message_id"] and kwargs["probe"] == "claim"
    assert all(marker not in json.dumps(link) for link in embed["chain"])


def test_the_sweeper_completes_a_message_whose_chain_vanished(bridge_only, broker, run, monkeypatch):
    send(broker, {"run": run, "item": "lost"})
    stolen = take_task_message(broker)  # the first link, gone
    (row,) = journaled(run, "lost")
    assert row.status == "dispatched"
    sweeper = Sweeper(get_settings().model_copy(update={"stalled_after_seconds": 0.5}), journal())
    with running_worker():
        wait_for(lambda: sweeper.sweep().redispatched == [row.message_id], what="the sweeper to re-dispatch")
        wait_for(lambda: len(records(run, "lost")["effects"]) == 3, what="the re-dispatched chain")
        # The lost link turning up after all changes nothing: it is of an earlier dispatch.
        put_back(broker, stolen)
        wait_for(lambda: journaled(run, "lost")[0].status == "done", what="done")
    assert records(run, "lost")["executions"] == ["first", "second", "third"]
    with journal().engine.connect() as connection:
        assert search.timeline(connection, row.message_id).message["redispatches"] == 1


@contextmanager
def black_hole():
    """A consumer of pacer.tasks that loses every task message it gets (acks, runs nothing):
    the worst worker there is."""
    stop = threading.Event()

    def swallow() -> None:
        with connect(get_settings()) as connection:
            queue = topology.task_queue()(connection.default_channel)
            with connection.Consumer(queue, callbacks=[lambda body, message: message.ack()], accept=["json"]):
                while not stop.is_set():
                    try:
                        connection.drain_events(timeout=0.1)
                    except TimeoutError:
                        pass

    thread = threading.Thread(target=swallow, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def test_the_sweeper_gives_up_after_the_limit(bridge_only, broker, run):
    settings = get_settings().model_copy(update={"stalled_after_seconds": 0.1, "max_redispatch": 1})
    sweeper = Sweeper(settings, journal())
    with black_hole():
        send(broker, {"run": run, "item": "gone"})
        (row,) = wait_for(lambda: journaled(run, "gone"), what="the message journaled")
        wait_for(lambda: sweeper.sweep().redispatched, what="one re-dispatch")
        wait_for(lambda: sweeper.sweep().dead_lettered == [row.message_id], what="the sweeper to give up")
    (done,) = journaled(run, "gone")
    assert done.status == "dead-lettered" and "PACER_MAX_REDISPATCH" in done.reason


def test_waiting_for_a_worker_is_not_stalling(bridge_only, broker, run):
    """No worker consumes pacer.tasks (stopped for maintenance): nothing is re-dispatched,
    however long the message waits."""
    settings = get_settings().model_copy(update={"stalled_after_seconds": 0.1, "max_redispatch": 0})
    sweeper = Sweeper(settings, journal())
    send(broker, {"run": run, "item": "patient"})
    (row,) = wait_for(lambda: journaled(run, "patient"), what="the message journaled")
    time.sleep(0.5)
    assert sweeper.sweep().redispatched == [] and sweeper.sweep().dead_lettered == []
    with running_worker():
        wait_for(lambda: journaled(run, "patient")[0].status == "done", what="done once a worker comes")
    assert records(run, "patient")["executions"] == ["first", "second", "third"]
