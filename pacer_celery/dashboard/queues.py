"""How many messages wait in PACER's queues, asked of the broker itself.

A passive ``queue_declare`` answers with the queue's message and consumer counts and
changes nothing (a queue that does not exist stays so); it works on RabbitMQ and on the
demo's in-memory transport alike, with no management plugin.
"""

from __future__ import annotations

from dataclasses import dataclass

from amqp.exceptions import NotFound
from kombu import Connection
from kombu.exceptions import ChannelError, OperationalError

from pacer_celery import bridges, topology
from pacer_celery.bridges.broker import describe_failure
from pacer_celery.settings import Settings

#: A page must not hang on a broker that does not answer.
CONNECT_SECONDS = 5


@dataclass(frozen=True)
class Depth:
    queue: str
    #: None: no such queue on the broker (nothing declared it yet).
    messages: int | None
    consumers: int | None


def queue_names() -> list[str]:
    """The registered message types' input queues, then the task and dead-letter queues."""
    inputs = sorted({bridge.queue for bridge in bridges.load().values()})
    return [*inputs, topology.TASK_QUEUE, topology.REJECTED_TASK_QUEUE, topology.DEAD_LETTER_QUEUE]


def depths(settings: Settings, names: list[str]) -> tuple[list[Depth], str | None]:
    """Each queue's depth, and None; or no depths and why the broker could not say."""
    connection = Connection(settings.broker(), connect_timeout=CONNECT_SECONDS)
    try:
        connection.ensure_connection(max_retries=1)
        found = []
        channel = connection.channel()
        for name in names:
            try:
                _, messages, consumers = channel.queue_declare(queue=name, passive=True)
                found.append(Depth(name, messages, consumers))
            except (NotFound, ChannelError):
                found.append(Depth(name, None, None))
                channel = connection.channel()  # the broker closed the one that asked
        return found, None
    except (OperationalError, OSError) as exc:
        return [], describe_failure(connection, exc)
    finally:
        connection.release()
