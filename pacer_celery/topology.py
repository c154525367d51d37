"""The broker objects PACER uses: one topic exchange, a queue per message type, the
dead-letter queue and the Celery task queue. Declared the same way by every process."""

from __future__ import annotations

from kombu import Exchange, Queue

from pacer_celery.settings import Settings

DEAD_LETTER_QUEUE = "pacer.dlq"
TASK_QUEUE = "pacer.tasks"
#: Task messages a worker rejected (a task it does not know, a message not in its journal):
#: RabbitMQ dead-letters them here, and the bridges turn each into a dead letter.
REJECTED_TASK_QUEUE = "pacer.tasks.rejected"
#: Task priorities: a chain's later links go before first links, so messages under way
#: finish before new ones start (latency stays flat under load; see chains.Link).
MAX_PRIORITY = 9


def exchange(settings: Settings) -> Exchange:
    return Exchange(settings.rmq_exchange, type="topic", durable=True)


def input_queue(settings: Settings, name: str, routing_key: str) -> Queue:
    return Queue(name, exchange=exchange(settings), routing_key=routing_key, durable=True)


def dead_letter_queue() -> Queue:
    # On the default exchange only: dead letters are addressed by queue name, so no
    # binding on the topic exchange (a producer's '#', say) can ever route into it.
    return Queue(DEAD_LETTER_QUEUE, durable=True)


def task_queue() -> Queue:
    # A rejected task message (requeue=False) must not vanish: RabbitMQ moves it to the
    # rejected-task queue. An existing pacer.tasks declared without these arguments has
    # to be deleted once (see the README's upgrade note).
    return Queue(
        TASK_QUEUE,
        durable=True,
        queue_arguments={
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": REJECTED_TASK_QUEUE,
            "x-max-priority": MAX_PRIORITY,
        },
    )


def rejected_task_queue() -> Queue:
    return Queue(REJECTED_TASK_QUEUE, durable=True)
