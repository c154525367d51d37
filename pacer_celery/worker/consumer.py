"""The worker's consumer: Celery's, sending its monitoring events cheaply.

The no-loss rule needs confirms on what carries a message: task messages (a chain's next
link, a retry) and dead letters. Celery applies ``broker_transport_options`` to every
connection, the event dispatcher's too, so each task-received, task-started and
task-succeeded event waited for the broker's ack; the worker's main process sends them
between handing tasks to its pool, and spent about 40 % of its CPU on it (py-spy). An
event the broker loses costs Flower a row for a while (the journal keeps the message's
whole story), never a message.

Celery buffers those events, then sends them at the event loop's next turn, which comes
at once: about one publish per event, three per task, still a third of the main
process's CPU. Here the buffer goes out ``EVENTS_EVERY_SECONDS`` after its first event,
every task of that moment in one publish; Flower is that much behind.
"""

from __future__ import annotations

import contextlib
import time

from celery.worker.consumer import Consumer as CeleryConsumer
from kombu import Connection

#: How long the main process's task events wait to go out together.
EVENTS_EVERY_SECONDS = 0.1


class Consumer(CeleryConsumer):
    #: When the buffer's sending was last scheduled (None: it is not). One older than a
    #: second is made again, in case the event loop lost it (a reconnect resets the loop):
    #: at worst a needless flush, never events that wait for good.
    _events_due_since: float | None = None

    def connection_for_write(self, url: str | None = None, heartbeat: float | None = None) -> Connection:
        # Celery's consumer asks for a write connection only for its event dispatcher.
        return self.ensure_connected(
            self.app.connection_for_write(
                url=url, heartbeat=heartbeat, transport_options={"confirm_publish": False}
            )
        )

    def on_send_event_buffered(self) -> None:
        due = self._events_due_since
        if self.hub is None or (due is not None and time.monotonic() - due < 1.0):
            return
        self._events_due_since = time.monotonic()
        # A threads pool's tasks buffer events from their own threads: only call_soon is
        # safe there, and it runs the timer's start in the event loop's thread.
        self.hub.call_soon(self._send_buffered_events_later)

    def _send_buffered_events_later(self) -> None:
        self.hub.call_later(EVENTS_EVERY_SECONDS, self._send_buffered_events)

    def _send_buffered_events(self) -> None:
        self._events_due_since = None
        self._flush_events()

    def shutdown(self) -> None:
        # What waits in the buffer goes out before the dispatcher closes.
        with contextlib.suppress(Exception):
            self._flush_events()
        super().shutdown()
