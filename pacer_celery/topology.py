"""The broker objects PACER uses: one topic exchange, a queue per message type, the
dead-letter queue and the Celery task queue. Declared the same way by every process."""

from __future__ import annotations

from kombu import Exchange, Queue

from pacer_celery.settings import Settings

DEAD_LETTER_QUEUE = "pacer.dlq"
TASK_QUEUE = "pacer.tasks"


def exchange(settings: Settings) -> Exchange:
    return Exchange(settings.rmq_exchange, type="topic", durable=True)


def input_queue(settings: Settings, name: str, routing_key: str) -> Queue:
    return Queue(name, exchange=exchange(settings), routing_key=routing_key, durable=True)


def dead_letter_queue() -> Queue:
    # On the default exchange only: dead letters are addressed by queue name, so no
    # binding on the topic exchange (a producer's '#', say) can ever route into it.
    return Queue(DEAD_LETTER_QUEUE, durable=True)


def task_queue() -> Queue:
    return Queue(TASK_QUEUE, durable=True)
