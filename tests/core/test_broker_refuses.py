"""The broker refusing the chain's publish: the input is not acked and comes back."""

from __future__ import annotations

import json
import subprocess

import pytest

from pacer_celery.settings import get_settings
from tests.conftest import rabbitmqctl
from tests.core.conftest import records, send, wait_for


def queued(queue: str) -> int:
    """Messages in a queue, ready or unacked, as the broker counts them."""
    out = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", get_settings().rmq_virtual_host,
         "name", "messages", "--formatter", "json"],
        check=True, capture_output=True, text=True,
    ).stdout
    return next((q["messages"] for q in json.loads(out) if q["name"] == queue), 0)


@pytest.fixture
def task_queue_refuses():
    vhost = get_settings().rmq_virtual_host
    rabbitmqctl(
        "set_policy", "-p", vhost, "--apply-to", "queues", "refuse-tasks", r"^pacer\.tasks$",
        '{"max-length": 0, "overflow": "reject-publish"}',
    )
    yield lambda: rabbitmqctl("clear_policy", "-p", vhost, "refuse-tasks")
    subprocess.run(["rabbitmqctl", "clear_policy", "-p", vhost, "refuse-tasks"], capture_output=True)


def test_refused_dispatch_leaves_the_input_unacked_until_the_broker_accepts(
    bridges, broker, run, task_queue_refuses
):
    send(broker, {"run": run, "item": "r", "faults": {}})
    wait_for(lambda: bridges.failed_publishes >= 2, what="the broker to refuse twice")
    assert records(run, "r")["executions"] == []
    assert queued("pacer.probe") == 1  # still there, held or back in the queue

    task_queue_refuses()  # the broker accepts again
    wait_for(lambda: len(records(run, "r")["effects"]) == 3, what="three steps")
    assert records(run, "r")["executions"] == ["first", "second", "third"]
    wait_for(lambda: queued("pacer.probe") == 0, what="the input to be acked")
