"""Fixtures for the core: an in-process Celery worker, running bridges, and helpers to
publish test messages and read what happened (Redis records, dead letters)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator

import pytest
from kombu import Connection

from pacer_celery import deadletters, topology
from pacer_celery.bridges.runner import BridgeRunner, connect
from pacer_celery.settings import get_settings
from tests.support import probe
from tests.support.pipeline import running_bridges, running_worker
from tests.support.waiting import wait_for  # noqa: F401 - re-exported for the tests


@pytest.fixture(scope="module")
def worker() -> Iterator[None]:
    with running_worker():
        yield


@pytest.fixture(scope="module")
def bridges(worker) -> Iterator[BridgeRunner]:
    with running_bridges([probe.ProbeBridge(), probe.CollectingProbeBridge()]) as runner:
        yield runner


@pytest.fixture
def run() -> str:
    """A key unique to the test, so its Redis records and dead letters are its own."""
    return f"run-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def broker() -> Iterator[Connection]:
    with connect(get_settings()) as connection:
        yield connection


def send(
    connection: Connection,
    body: bytes | str | dict,
    *,
    routing_key: str = "test.probe",
    content_type: str | None = "application/json",
    headers: dict | None = None,
    message_id: str | None = None,
) -> str:
    """Publish as a producer would (confirmed), bypassing PacerProducer's own checks; the
    message's id (one is made up unless given)."""
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode("utf-8")
    # The raw channel, so a message can also go without a content_type property, as
    # the User Office System sends them (content type in a header only).
    channel = connection.default_channel
    topology.exchange(get_settings())(channel).declare()
    message_id = message_id or str(uuid.uuid4())
    message = channel.prepare_message(
        body, 0, content_type, None, {"source": "tests", **(headers or {})}, {"message_id": message_id}
    )
    channel.basic_publish(
        message, exchange=get_settings().rmq_exchange, routing_key=routing_key, mandatory=True
    )
    return message_id


def records(run: str, item: str) -> dict:
    db = probe.store()
    key = f"{run}:{item}"
    return {
        "executions": db.lrange(f"{key}:executions", 0, -1),
        "effects": db.smembers(f"{key}:effects"),
    }


def dead_letters(connection: Connection, match: Callable[[deadletters.DeadLetter], bool]):
    with deadletters.held(connection) as held:
        return [letter for letter, _ in held if match(letter)]


def letters_of_run(connection: Connection, run: str):
    return dead_letters(connection, lambda letter: run.encode() in letter.body)
