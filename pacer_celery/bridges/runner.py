"""Runs bridges: consume, journal, dispatch the chain, and only then ack.

Inputs are handled in small batches (``dispatch.BATCH_SIZE`` or ``BATCH_SECONDS``):

1. each input is checked and validated by its bridge; invalid ones get a dead letter;
2. the whole batch is journaled in one transaction (the claim check: the journal holds
   the body, chain links carry the message id). Journal unreachable: nothing is acked,
   the batch goes back to its queues after a pause;
3. chains and dead letters are published on one confirm-mode channel;
4. each input whose own publish is confirmed is acked; refused ones go back to their
   queue after a pause that grows while the broker keeps refusing.

The same loop drains ``pacer.tasks.rejected`` (task messages a worker rejected, e.g.
for a task it does not know) into dead letters, and runs the sweeper now and then.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

from kombu import Connection, Consumer
from kombu.message import Message
from kombu.mixins import ConsumerMixin

from pacer_celery import chains, topology
from pacer_celery import headers as header_codec
from pacer_celery.app import app
from pacer_celery.bridges import amqp_guard
from pacer_celery.bridges.base import PacerBridge, Validated
from pacer_celery.bridges.broker import describe_failure
from pacer_celery.bridges.dispatch import BATCH_SECONDS, BATCH_SIZE, ConfirmedPublisher
from pacer_celery.bridges.rejected import RejectedTask
from pacer_celery.deadletters import DeadLetter
from pacer_celery.envelope import Envelope, Raw, keep_bodies, usable_message_id
from pacer_celery.errors import InvalidMessage
from pacer_celery.journal import Arrival, Journal
from pacer_celery.settings import Settings
from pacer_celery.sweeper import Sweeper

logger = logging.getLogger(__name__)

MAX_PAUSE_SECONDS = 10.0
MAX_RECONNECT_PAUSE = 30.0
#: How often, at most, the bridge says that the journal is unreachable.
JOURNAL_DOWN_LOG_SECONDS = 5.0


@dataclass
class Entry:
    """One input of the current batch."""

    message: Message
    bridge: PacerBridge | None
    arrival: Arrival | None = None
    envelope: Envelope | None = None
    validated: Validated | None = None
    letter: DeadLetter | None = None

    @property
    def label(self) -> str:
        if self.arrival is not None:
            return chains.describe(self.arrival.message_type, self.arrival.identifiers, self.arrival.message_id)
        return f"message {self.message.properties.get('message_id') or self.message.delivery_tag}"


class BridgeRunner(ConsumerMixin):
    def __init__(
        self,
        connection: Connection,
        bridges: list[PacerBridge],
        settings: Settings,
        journal: Journal,
        *,
        sweep: bool = True,
    ) -> None:
        amqp_guard.install()
        self.connection = connection
        self.bridges = bridges
        self.settings = settings
        self.journal = journal
        self.sweeper = Sweeper(settings, journal) if sweep else None
        self.failed_publishes = 0
        #: Set once consumers are up, for whoever waits on this runner (tests, the demo).
        self.ready = threading.Event()
        self.events = DashboardEvents(settings)
        self.publisher = ConfirmedPublisher(settings.broker(), self.events)
        self.batch: list[Entry] = []
        self.batch_started = 0.0
        self.next_sweep = time.monotonic() + settings.sweep_interval_seconds
        self.journal_down_logged = 0.0
        self.reconnect_pause = 0.0

    # -- the consumer loop (kombu's ConsumerMixin) -----------------------------------

    def get_consumers(self, consumer_class: type[Consumer], channel) -> list[Consumer]:
        keep_bodies(channel)
        consumers = [
            consumer_class(
                queues=[topology.input_queue(self.settings, bridge.queue, bridge.routing_key_in(self.settings))],
                on_message=partial(self.on_message, bridge),
                prefetch_count=self.settings.bridge_prefetch,
            )
            for bridge in self.bridges
        ]
        consumers.append(
            consumer_class(
                queues=[topology.rejected_task_queue()],
                on_message=self.on_rejected_task,
                prefetch_count=self.settings.bridge_prefetch,
            )
        )
        # Declared here too, so that rejected tasks have somewhere to go before any worker ran.
        topology.task_queue()(channel).declare()
        return consumers

    def on_consume_ready(self, connection, channel, consumers, **kwargs) -> None:
        self.reconnect_pause = 0.0
        names = ", ".join(q.name for c in consumers for q in c.queues)
        logger.info("bridges consuming from %s", names)
        self.ready.set()

    def run(self, _tokens: int = 1, **kwargs) -> None:
        # Short waits for input, so a partial batch is settled soon when traffic stops.
        kwargs.setdefault("safety_interval", BATCH_SECONDS)
        errors = self.connection.connection_errors + self.connection.channel_errors
        try:
            while not self.should_stop:
                try:
                    for _ in self.consume(limit=None, **kwargs):
                        pass
                except errors as exc:
                    self.forget_batch()
                    if self.should_stop:
                        break
                    self.reconnect_pause = min(MAX_RECONNECT_PAUSE, 2 * self.reconnect_pause or 1.0)
                    logger.error(
                        "broker: %s; trying again in %.0fs",
                        describe_failure(self.connection, exc), self.reconnect_pause,
                    )
                    self.pause(self.reconnect_pause)
        finally:
            self.publisher.close()
            self.events.close()

    @contextmanager
    def establish_connection(self):
        # One attempt: the loop in run() retries, with a line per pause and an ear for
        # a stop request (kombu's own retries would sleep through SIGTERM).
        with self.create_connection() as connection:
            connection.connect()
            yield connection

    def on_consume_end(self, connection, channel) -> None:
        # Stopping: settle what is in hand while the inputs' channel is still open; the
        # rest stays unacked and the broker requeues it.
        self.flush()

    def on_iteration(self) -> None:
        if self.batch and time.monotonic() - self.batch_started >= BATCH_SECONDS:
            self.flush()
        if self.sweeper is not None and time.monotonic() >= self.next_sweep:
            self.next_sweep = time.monotonic() + self.settings.sweep_interval_seconds
            self.sweeper.sweep()

    # -- inputs ----------------------------------------------------------------------

    def on_message(self, bridge: PacerBridge, message: Message) -> None:
        raw = Raw.from_amqp(message)
        message_type = bridge.dashboard_message_type
        envelope = validated = None
        error = None
        try:
            envelope = Envelope.receive(raw, message_type, self.settings.max_message_bytes)
            validated = bridge.validate(envelope)
        except InvalidMessage as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug here must not stop the bridge
            logger.exception("bridge %s failed on a message", type(bridge).__name__)
            error = f"bridge error: {type(exc).__name__}: {exc}"
        message_id = envelope.message_id if envelope else usable_message_id(raw.message_id) or str(uuid.uuid4())
        if raw.message_id is not None and raw.message_id != message_id:
            logger.warning("message %s: the producer's message id is unusable (%r, cut); PACER gave it this one",
                           message_id, str(raw.message_id)[:40])
        letter = None if error is None else DeadLetter.of_raw(raw, message_type, message_id, error)
        arrival = Arrival(
            message_id=message_id,
            message_type=message_type,
            source=envelope.source if envelope else str(raw.headers.get("source", "unknown"))[:255],
            routing_key=raw.routing_key,
            content_type=raw.effective_content_type,
            headers=_journaled_headers(raw),
            body=raw.body,
            identifiers=validated.identifiers if validated else {},
            object_key=validated.object_key if validated else None,
            version_at=validated.version_at if validated else None,
            error=error,
            dead_letter_id=letter.id if letter else None,
        )
        self.add(Entry(message, bridge, arrival, envelope, validated, letter))

    def on_rejected_task(self, message: Message) -> None:
        rejected = RejectedTask.from_amqp(message)
        record = self.journal_or_none(rejected.message_id)
        letter = rejected.dead_letter(record)
        if letter is None:
            logger.info("%s: rejected task of a message already settled; dropped", rejected.label)
            self.ack([message])
            return
        self.add(Entry(message, None, letter=letter))

    def journal_or_none(self, message_id: str | None):
        try:
            return self.journal.load(message_id) if message_id else None
        except Exception as exc:  # noqa: BLE001 - the message comes back later
            logger.warning("journal unreachable (%s)", exc)
            return None

    def add(self, entry: Entry) -> None:
        if not self.batch:
            self.batch_started = time.monotonic()
        self.batch.append(entry)
        if len(self.batch) >= BATCH_SIZE:
            self.flush()

    # -- settling a batch ------------------------------------------------------------

    def flush(self) -> None:
        batch, self.batch = self.batch, []
        if not batch:
            return
        try:
            decided = self.journal.record_arrivals([e.arrival for e in batch if e.arrival is not None])
        except Exception as exc:  # noqa: BLE001 - whatever the database says, nothing is acked
            self.journal_unreachable(exc, batch)
            return
        skipped, published = self.publish(batch, decided)
        confirmed, refused = self.publisher.settle()
        self.events.flush()
        self.acknowledge(batch, confirmed)
        self.ack(skipped)
        if confirmed:
            self.failed_publishes = 0
        if refused:
            self.give_back(refused, "the broker did not confirm the dispatch")

    def publish(self, batch: list[Entry], decided: dict[str, int | None]) -> tuple[list[Message], int]:
        """Publish each entry's chain or dead letter; (inputs needing no publish, published)."""
        skipped: list[Message] = []
        for index, entry in enumerate(batch):
            try:
                if entry.letter is not None:
                    self.publisher.publish_letter(entry.letter, entry.message)
                    continue
                dispatch = decided.get(entry.arrival.message_id)
                if dispatch is None:
                    logger.info("%s: received again, already done or on its way; not dispatched twice", entry.label)
                    skipped.append(entry.message)
                    continue
                flow = entry.bridge.build_chain(
                    entry.arrival.message_id, entry.arrival.source, entry.validated, dispatch
                )
                self.publisher.publish_chain(flow, entry.message)
            except Exception as exc:  # noqa: BLE001 - whatever the cause, the inputs stay safe
                confirmed, pending = self.publisher.abandon()
                self.acknowledge(batch, confirmed)
                self.give_back([*pending, *(e.message for e in batch[index:])], f"dispatch failed: {exc}")
                return skipped, index
        return skipped, len(batch)

    def acknowledge(self, batch: list[Entry], confirmed: list[Message]) -> None:
        """Ack the confirmed inputs, once the journal knows their chains are on their way."""
        done = {id(m) for m in confirmed}
        entries = [e for e in batch if id(e.message) in done]
        dispatched = [e.arrival.message_id for e in entries if e.letter is None and e.arrival is not None]
        try:
            self.journal.mark_dispatched(dispatched)
        except Exception as exc:  # noqa: BLE001 - the chains are safe; a redelivery would run twice
            logger.warning("journal unreachable marking %d message(s) dispatched: %s", len(dispatched), exc)
        for entry in entries:
            self.finish(entry)
        self.ack([e.message for e in entries])

    def finish(self, entry: Entry) -> None:
        if entry.letter is None:
            logger.info("%s: dispatched", entry.label)
        elif entry.arrival is not None:
            logger.warning("%s: rejected as invalid, dead letter %s: %s", entry.label, entry.letter.id, entry.letter.reason)
        else:
            self.journal_dead_lettered(entry.letter)
            logger.error("%s: dead letter %s: %s", entry.label, entry.letter.id, entry.letter.reason)

    def journal_dead_lettered(self, letter: DeadLetter) -> None:
        try:
            self.journal.dead_lettered(letter.message_id, letter.id, letter.reason)
        except Exception as exc:  # noqa: BLE001 - the dead letter itself is safe in pacer.dlq
            logger.warning("journal unreachable recording dead letter %s: %s", letter.id, exc)

    def ack(self, messages: list[Message]) -> None:
        for message in messages:
            try:
                message.ack()
            except self.connection.connection_errors + self.connection.channel_errors:
                # Its connection is gone: the broker has it again and redelivers it; the
                # journal keeps that redelivery from being dispatched twice.
                logger.debug("input %s: its channel closed before the ack", message.delivery_tag)

    def journal_unreachable(self, exc: Exception, batch: list[Entry]) -> None:
        if time.monotonic() - self.journal_down_logged >= JOURNAL_DOWN_LOG_SECONDS:
            self.journal_down_logged = time.monotonic()
            logger.error(
                "journal unreachable (%s): %d message(s) stay in their queues until it is back",
                _first_line(exc), len(batch),
            )
        self.give_back([e.message for e in batch], None)

    def give_back(self, messages: list[Message], why: str | None) -> None:
        """Requeue after a pause that grows while the broker (or the journal) keeps refusing."""
        self.failed_publishes += 1
        pause = min(MAX_PAUSE_SECONDS, 0.5 * 2 ** (self.failed_publishes - 1))
        if why:
            ids = ", ".join(str(m.properties.get("message_id") or m.delivery_tag) for m in messages[:5])
            logger.error(
                "%d message(s) (%s%s): %s; returning them to the queue in %.1fs",
                len(messages), ids, ", ..." if len(messages) > 5 else "", why, pause,
            )
        self.pause(pause)
        for message in messages:
            try:
                message.requeue()
            except self.connection.connection_errors + self.connection.channel_errors:
                pass  # its connection is gone: the broker has it again already

    def forget_batch(self) -> None:
        """The consumer's connection died: its inputs are the broker's again."""
        self.batch = []
        self.publisher.abandon()

    def pause(self, seconds: float) -> None:
        """Sleep, but wake for a stop request."""
        deadline = time.monotonic() + seconds
        while not self.should_stop and time.monotonic() < deadline:
            time.sleep(min(0.1, deadline - time.monotonic()))


class DashboardEvents:
    """Sends the dashboard's task-sent events of a batch in one broker message, without
    publisher confirms.

    Celery would publish each on the task's confirmed channel; an event only feeds Flower,
    and a publish of its own per message would cost the bridge a broker write per message.
    The batch's events go out together once its confirms are in (``flush``). A failed send
    costs Flower rows, never a message.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.connection: Connection | None = None
        self.dispatcher = None

    def publish(self, type: str, fields: dict, producer, **kwargs) -> None:
        try:
            self._ready().send(type, **fields)
        except Exception as exc:  # noqa: BLE001 - a lost event never holds up a message
            logger.warning("dashboard event %s not sent: %s", type, exc)
            self.close()

    def flush(self) -> None:
        if self.dispatcher is None:
            return
        try:
            self.dispatcher.flush()
        except Exception as exc:  # noqa: BLE001 - as above; a fresh connection next time
            logger.warning("dashboard events not sent: %s", exc)
            self.close()

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):  # broken already, or closing anyway
                self.dispatcher.close()
                self.connection.release()
        self.connection = self.dispatcher = None

    def _ready(self):
        if self.dispatcher is None:
            self.connection = Connection(self.settings.broker())
            # Nothing kept while the broker is away: the events of a failed flush are dropped.
            # The limit is above a batch's events, so that flush() is what sends them.
            self.dispatcher = app.events.Dispatcher(
                self.connection, enabled=True, buffer_while_offline=False, buffer_group={"task"},
                buffer_limit=2 * BATCH_SIZE,
            )
        return self.dispatcher


def connect(settings: Settings) -> Connection:
    """A broker connection with publisher confirms, as every PACER publisher needs."""
    return Connection(settings.broker(), transport_options={"confirm_publish": True})


def _journaled_headers(raw: Raw) -> dict:
    try:
        return header_codec.to_json(raw.headers)
    except ValueError as exc:  # nested too deep: the dead letter keeps the originals
        return {"$unreadable": str(exc)}


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
