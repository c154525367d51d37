"""Publishing chains with publisher confirms collected per batch, not per message.

Waiting for RabbitMQ's confirm of each chain before taking the next message costs a round
trip (and, for persistent messages, a disk sync) per message. Here a bridge publishes the
chains of several messages and then waits once: an input is acked only after the publish
of its own chain is confirmed; a nacked or returned one is given back, never acked.
"""

from __future__ import annotations

import time

from celery import chain
from kombu import Connection, Producer
from kombu.message import Message

from pacer_celery.settings import Settings

#: Inputs per batch, and how long a partial batch may wait, at most, for more.
BATCH_SIZE = 50
BATCH_SECONDS = 0.05
CONFIRM_TIMEOUT_SECONDS = 30.0


class ConfirmedDispatch:
    def __init__(self, settings: Settings, event_dispatcher: object) -> None:
        # Confirms are selected by hand below: kombu's confirm_publish would wait per publish.
        self.connection = Connection(settings.broker())
        self.event_dispatcher = event_dispatcher
        self.producer: Producer | None = None
        self.unconfirmed: dict[int, Message] = {}
        self.confirmed: list[Message] = []
        self.refused: list[Message] = []
        self.next_tag = 1
        self.confirms = True
        self.started: float | None = None

    def publish(self, flow: chain, message: Message) -> None:
        """Publish ``flow`` for the input ``message``; raises if the publish itself fails."""
        if self.producer is None:
            self._open()
        if self.started is None:
            self.started = time.monotonic()
        # What chain.apply_async sends, but on this producer (it would not pass one on):
        # the first link, carrying the others in the order the worker pops them.
        first, *rest = flow.tasks
        first.apply_async(
            producer=self.producer,
            event_dispatcher=self.event_dispatcher,
            chain=list(reversed(rest)),
        )
        if self.confirms:
            self.unconfirmed[self.next_tag] = message
            self.next_tag += 1
        else:
            self.confirmed.append(message)

    @property
    def due(self) -> bool:
        waiting = len(self.unconfirmed) + len(self.confirmed)
        if not waiting:
            return False
        return waiting >= BATCH_SIZE or time.monotonic() - self.started >= BATCH_SECONDS

    def settle(self) -> tuple[list[Message], list[Message]]:
        """Wait for the confirms of everything published: (confirmed, refused) inputs.

        Inputs whose confirm never comes (a broken connection, a timeout) count as refused.
        """
        deadline = time.monotonic() + CONFIRM_TIMEOUT_SECONDS
        try:
            while self.unconfirmed and time.monotonic() < deadline:
                self.connection.drain_events(timeout=max(0.01, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - a timeout or a broken connection: see below
            pass
        if self.unconfirmed:
            self.refused.extend(self.unconfirmed.values())
            self.unconfirmed.clear()
            self.reset()  # the broker's tags and ours may no longer agree: a new channel
        confirmed, refused = self.confirmed, self.refused
        self.confirmed, self.refused, self.started = [], [], None
        return confirmed, refused

    def give_up(self) -> list[Message]:
        """Everything published but not confirmed, after a publish failed; starts afresh."""
        pending = [*self.unconfirmed.values()]
        self.unconfirmed.clear()
        self.reset()
        return pending

    def reset(self) -> None:
        if self.producer is not None:
            try:
                self.producer.channel.close()
            except Exception:  # noqa: BLE001 - a broken channel is being thrown away anyway
                pass
        self.producer, self.next_tag = None, 1

    def close(self) -> None:
        self.reset()
        self.connection.release()

    def _open(self) -> None:
        channel = self.connection.channel()
        # In-process transports (the demo's memory://) have no publisher confirms: there a
        # publish that returned is as good as confirmed.
        self.confirms = hasattr(channel, "confirm_select")
        if self.confirms:
            channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        channel.events["basic_return"].add(self._on_return)
        self.producer = Producer(channel)

    def _settled(self, tag: int, multiple: bool) -> list[Message]:
        tags = [t for t in self.unconfirmed if t <= tag] if multiple else [tag]
        return [self.unconfirmed.pop(t) for t in tags if t in self.unconfirmed]

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self.confirmed.extend(self._settled(tag, multiple))

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self.refused.extend(self._settled(tag, multiple))

    def _on_return(self, *args: object) -> None:
        # An unroutable chain (its task queue is gone): RabbitMQ still acks it after the
        # return, so the whole batch is given back rather than risk acking a lost one.
        self.refused.extend(self.unconfirmed.values())
        self.unconfirmed.clear()
