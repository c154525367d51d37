"""Runs bridges: consume, dispatch the chain, and only then ack.

Per message, exactly one of three things happens:
- the chain's first task is confirmed by the broker → the input is acked;
- the message is invalid → it is confirmed in ``pacer.dlq`` → the input is acked;
- a publish fails or is refused → the input is not acked: it is requeued after a pause
  and comes back.

Chains are published in small batches whose confirms are awaited together
(``dispatch.ConfirmedDispatch``); each input still waits for its own chain's confirm.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import partial

from kombu import Connection, Consumer, Producer
from kombu.message import Message
from kombu.mixins import ConsumerMixin

from pacer_celery import deadletters, topology
from pacer_celery.app import app
from pacer_celery.bridges.base import PacerBridge
from pacer_celery.bridges.dispatch import BATCH_SECONDS, ConfirmedDispatch
from pacer_celery.envelope import Envelope
from pacer_celery.deadletters import raw_body
from pacer_celery.errors import InvalidMessage
from pacer_celery.settings import Settings

logger = logging.getLogger(__name__)

MAX_PAUSE_SECONDS = 10.0


class BridgeRunner(ConsumerMixin):
    def __init__(self, connection: Connection, bridges: list[PacerBridge], settings: Settings) -> None:
        self.connection = connection
        self.bridges = bridges
        self.settings = settings
        self.failed_publishes = 0
        #: Set once consumers are up, for whoever waits on this runner (tests, the demo).
        self.ready = threading.Event()
        self._producer: Producer | None = None
        self.events = DashboardEvents(settings)
        self.dispatch = ConfirmedDispatch(settings, self.events)

    def input_queue(self, bridge: PacerBridge):
        key = self.settings.routing_key_for(bridge.dashboard_message_type) or bridge.routing_key
        if not key:
            raise TypeError(f"{type(bridge).__name__} has no routing key")
        return topology.input_queue(self.settings, bridge.queue, key)

    def get_consumers(self, consumer_class: type[Consumer], channel) -> list[Consumer]:
        return [
            consumer_class(
                queues=[self.input_queue(bridge)],
                on_message=partial(self.on_message, bridge),
                prefetch_count=self.settings.bridge_prefetch,
            )
            for bridge in self.bridges
        ]

    def on_consume_ready(self, connection, channel, consumers, **kwargs) -> None:
        # The mixin consumes on a clone of self.connection; dead letters go out on it too.
        self._producer = Producer(connection.default_channel)
        # After a reconnect, inputs of the old connection are the broker's again.
        self.dispatch.give_up()
        names = ", ".join(q.name for c in consumers for q in c.queues)
        logger.info("bridges consuming from %s", names)
        self.ready.set()

    def run(self, _tokens: int = 1, **kwargs) -> None:
        # Short waits for input, so a partial batch is settled soon when traffic stops.
        kwargs.setdefault("safety_interval", BATCH_SECONDS)
        try:
            super().run(_tokens, **kwargs)
        finally:
            self.dispatch.close()
            self.events.close()

    def on_consume_end(self, connection, channel) -> None:
        # Stopping: ack what is confirmed while the inputs' channel is still open; the
        # rest stays unacked and the broker requeues it.
        self.settle()

    def on_iteration(self) -> None:
        if self.dispatch.due:
            self.settle()

    def settle(self) -> None:
        confirmed, refused = self.dispatch.settle()
        for message in confirmed:
            message.ack()
        if confirmed:
            self.failed_publishes = 0
        if refused:
            self.give_back(refused, "the broker did not confirm the dispatch")

    def on_message(self, bridge: PacerBridge, message: Message) -> None:
        envelope = None
        try:
            envelope = Envelope.receive(
                message_type=bridge.dashboard_message_type,
                routing_key=message.delivery_info.get("routing_key", ""),
                body=raw_body(message),
                content_type=message.properties.get("content_type"),
                headers=message.headers,
                message_id=message.properties.get("message_id"),
                max_bytes=self.settings.max_message_bytes,
            )
            flow = bridge.build_chain(envelope)
        except InvalidMessage as exc:
            self.dead_letter(bridge, message, envelope, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a bug here must not stop the bridge
            logger.exception("bridge %s failed on a message", type(bridge).__name__)
            self.dead_letter(bridge, message, envelope, f"bridge error: {type(exc).__name__}: {exc}")
            return
        try:
            self.dispatch.publish(flow, message)
        except Exception as exc:  # noqa: BLE001 - whatever the cause, the inputs stay safe
            self.give_back([*self.dispatch.give_up(), message], f"dispatch failed: {exc}")
            return
        logger.info(
            "message %s (%s) dispatched: %d steps",
            envelope.message_id, bridge.dashboard_message_type, len(flow.tasks),
        )
        if self.dispatch.due:
            self.settle()

    def dead_letter(
        self, bridge: PacerBridge, message: Message, envelope: Envelope | None, reason: str
    ) -> None:
        letter = deadletters.DeadLetter(
            message_id=envelope.message_id if envelope else message.properties.get("message_id") or "",
            message_type=bridge.dashboard_message_type,
            routing_key=message.delivery_info.get("routing_key", ""),
            body=raw_body(message),
            content_type=message.properties.get("content_type"),
            headers=dict(message.headers or {}),
            reason=reason,
            errors=(deadletters.StepError("validate", reason),),
        )
        try:
            deadletters.publish(self._producer, letter)
        except Exception as exc:  # noqa: BLE001
            self.give_back([message], f"dead-letter publish failed: {exc}")
            return
        message.ack()
        logger.warning(
            "message %s (%s) rejected as invalid, dead letter %s: %s",
            letter.message_id or "-", bridge.dashboard_message_type, letter.id, reason,
        )

    def give_back(self, messages: list[Message], why: str) -> None:
        """Requeue after a pause that grows while the broker keeps refusing."""
        self.failed_publishes += 1
        pause = min(MAX_PAUSE_SECONDS, 0.5 * 2 ** (self.failed_publishes - 1))
        ids = ", ".join(str(m.properties.get("message_id") or m.delivery_tag) for m in messages[:5])
        logger.error(
            "%d message(s) (%s%s): %s; returning them to the queue in %.1fs",
            len(messages), ids, ", ..." if len(messages) > 5 else "", why, pause,
        )
        time.sleep(pause)
        for message in messages:
            message.requeue()


class DashboardEvents:
    """Sends the dashboard's task-sent events on a connection without publisher confirms.

    Celery would publish them on the task's confirmed channel; an event only feeds Flower,
    and waiting for its confirm would cost the bridge a second round trip per message.
    """

    def __init__(self, settings: Settings) -> None:
        self.connection = Connection(settings.broker())
        self.dispatcher = app.events.Dispatcher(self.connection, enabled=True)

    def publish(self, type: str, fields: dict, producer: Producer, **kwargs) -> None:
        try:
            self.dispatcher.publish(type, fields, self.dispatcher.producer)
        except Exception as exc:  # noqa: BLE001 - a lost event never holds up a message
            logger.warning("dashboard event %s not sent: %s", type, exc)

    def close(self) -> None:
        self.dispatcher.close()
        self.connection.release()


def connect(settings: Settings) -> Connection:
    """A broker connection with publisher confirms, as every PACER publisher needs."""
    return Connection(settings.broker(), transport_options={"confirm_publish": True})
