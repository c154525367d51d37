"""The worker's consumer: Celery's, sending its monitoring events without publisher confirms.

The no-loss rule needs confirms on what carries a message: task messages (a chain's next
link, a retry) and dead letters. Celery applies ``broker_transport_options`` to every
connection, the event dispatcher's too, so each task-received, task-started and
task-succeeded event waited for the broker's ack; the worker's main process sends them
between handing tasks to its pool, and spent about 40 % of its CPU on it (py-spy). An
event the broker loses costs Flower a row for a while (the journal keeps the message's
whole story), never a message.
"""

from __future__ import annotations

from celery.worker.consumer import Consumer as CeleryConsumer
from kombu import Connection


class Consumer(CeleryConsumer):
    def connection_for_write(self, url: str | None = None, heartbeat: float | None = None) -> Connection:
        # Celery's consumer asks for a write connection only for its event dispatcher.
        return self.ensure_connected(
            self.app.connection_for_write(
                url=url, heartbeat=heartbeat, transport_options={"confirm_publish": False}
            )
        )
