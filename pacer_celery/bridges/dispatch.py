"""Publishing for a bridge: chains and dead letters on a channel of its own, with
publisher confirms awaited per batch.

Waiting for each confirm would cost a broker round trip per message; so everything a
bridge publishes goes out on one confirm-mode channel, the broker's acks (or nacks) come
back for many at once, and each input is settled by its own publish's confirm: acked
when confirmed, given back when refused, returned, or never confirmed.

Nothing here retries: a publish that fails leaves its channel for dead. The caller gives
back every input not yet confirmed, and the next publish opens a fresh connection, so a
reconnect never carries a producer over to a channel without confirms.
"""

from __future__ import annotations

import time
from typing import Any

from celery import chain
from kombu import Connection, Producer
from kombu.message import Message

from pacer_celery import chains, topology
from pacer_celery.deadletters import DeadLetter

#: Inputs per batch, and how long a partial batch may wait, at most, for more.
BATCH_SIZE = 50
BATCH_SECONDS = 0.05
CONFIRM_TIMEOUT_SECONDS = 30.0


class ConfirmedPublisher:
    def __init__(self, broker_url: str, event_dispatcher: object) -> None:
        self.broker_url = broker_url
        self.event_dispatcher = event_dispatcher
        self.connection: Connection | None = None
        self.producer: Producer | None = None
        self.confirms = True
        self.next_tag = 1
        self.unconfirmed: dict[int, Message] = {}
        self.confirmed: list[Message] = []
        self.refused: list[Message] = []

    def publish_chain(self, flow: chain, input: Message) -> None:
        """Publish ``flow`` for ``input``; raises if the publish itself fails."""
        producer = self._ready()
        # retry=False: Celery's publish retry would reconnect onto a channel without
        # confirms and our handlers (see the module's doc). declare=[]: the channel
        # declared pacer.tasks as it opened; Celery would bind a copy of it every publish.
        chains.send(flow, producer, event_dispatcher=self.event_dispatcher, retry=False, declare=[])
        self._sent(input)

    def publish_letter(self, letter: DeadLetter, input: Message) -> None:
        """Publish ``letter`` to ``pacer.dlq`` for ``input``; raises if the publish fails."""
        self._ready().publish(**letter.publish_arguments())
        self._sent(input)

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
            self.close()  # the broker's tags and ours may no longer agree: start afresh
        confirmed, refused = self.confirmed, self.refused
        self.confirmed, self.refused = [], []
        return confirmed, refused

    def abandon(self) -> tuple[list[Message], list[Message]]:
        """After a failed publish: (confirmed, not confirmed) inputs; starts afresh."""
        confirmed, pending = self.confirmed, [*self.refused, *self.unconfirmed.values()]
        self.confirmed, self.refused = [], []
        self.unconfirmed.clear()
        self.close()
        return confirmed, pending

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.release()
            except Exception:  # noqa: BLE001 - a broken connection is being thrown away anyway
                pass
        self.connection = self.producer = None
        self.next_tag = 1

    def _sent(self, input: Message) -> None:
        if self.confirms:
            self.unconfirmed[self.next_tag] = input
            self.next_tag += 1
        else:
            self.confirmed.append(input)

    def _ready(self) -> Producer:
        if self.producer is None:
            self.connection = Connection(self.broker_url, connect_timeout=10)
            channel = self.connection.channel()
            # In-process transports (the demo's memory://) have no publisher confirms:
            # there a publish that returned is as good as confirmed.
            self.confirms = hasattr(channel, "confirm_select")
            if self.confirms:
                channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            channel.events["basic_return"].add(self._on_return)
            topology.task_queue()(channel).declare()
            self.producer = Producer(channel)
        return self.producer

    def _settled(self, tag: int, multiple: bool) -> list[Message]:
        tags = [t for t in self.unconfirmed if t <= tag] if multiple else [tag]
        return [self.unconfirmed.pop(t) for t in tags if t in self.unconfirmed]

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self.confirmed.extend(self._settled(tag, multiple))

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self.refused.extend(self._settled(tag, multiple))

    def _on_return(self, *args: Any) -> None:
        # Unroutable (its queue is gone): RabbitMQ still acks it after the return, so
        # the whole batch is given back rather than risk acking a lost one.
        self.refused.extend(self.unconfirmed.values())
        self.unconfirmed.clear()
