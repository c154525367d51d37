"""The sweeper: the net under every way a chain can vanish between links.

A message whose journal status should be moving (received, dispatched, running,
replayed) but that has shown no sign of it for ``PACER_STALLED_AFTER_SECONDS``, and that
no worker holds, is dispatched again from its journaled body (steps are idempotent). After
``PACER_MAX_REDISPATCH`` such re-dispatches it is dead-lettered with that reason.

It runs inside ``pacer bridge`` every ``PACER_SWEEP_INTERVAL_SECONDS``, or alone as
``pacer sweep``; several at once are safe, as each re-dispatch is taken in the journal
by one of them only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from kombu import Connection, Producer

from pacer_celery import chains, deadletters, topology
from pacer_celery.deadletters import DeadLetter, StepError
from pacer_celery.journal import Journal, Record
from pacer_celery.redispatch import Outcome, dispatch_again
from pacer_celery.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class Sweep:
    redispatched: list[str] = field(default_factory=list)
    dead_lettered: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class Sweeper:
    def __init__(self, settings: Settings, journal: Journal) -> None:
        self.settings = settings
        self.journal = journal

    def sweep(self) -> Sweep:
        """One round; problems are logged, never raised (the bridge that runs it goes on)."""
        result = Sweep()
        try:
            stalled = self.journal.stalled(timedelta(seconds=self.settings.stalled_after_seconds))
        except Exception as exc:  # noqa: BLE001
            logger.warning("sweeper: journal unreachable (%s)", exc)
            return result
        if not stalled:
            return result
        try:
            with Connection(self.settings.broker(), transport_options={"confirm_publish": True}) as connection:
                waiting = _tasks_waiting(connection)
                if waiting:
                    logger.info("sweeper: %s; %d quiet message(s) may be waiting their turn", waiting, len(stalled))
                    return result
                producer = Producer(connection)
                for record in stalled:
                    self._one(record, producer, result)
        except Exception as exc:  # noqa: BLE001 - the next round tries again
            logger.warning("sweeper: %s; trying again next round", exc)
        return result

    def _one(self, record: Record, producer: Producer, result: Sweep) -> None:
        label = chains.describe(record.message_type, record.identifiers, record.message_id)
        if record.redispatches >= self.settings.max_redispatch:
            self._give_up(record, producer, label, result)
            return
        outcome: Outcome = dispatch_again(self.journal, record, producer, actor=None)
        if outcome.action == "redispatched":
            logger.warning("%s: stalled while %s; re-dispatched (%s)", label, record.status, outcome.detail)
            result.redispatched.append(record.message_id)
        elif outcome.action == "still invalid":
            self._give_up(record, producer, label, result, reason=outcome.detail)

    def _give_up(self, record: Record, producer: Producer, label: str, result: Sweep, reason: str | None = None) -> None:
        error = reason or (
            f"stalled {record.redispatches + 1} times; re-dispatched {record.redispatches} times "
            f"(PACER_MAX_REDISPATCH) without reaching an end"
        )
        # Taking a new dispatch first makes this sweeper the only one to dead-letter it.
        if self.journal.redispatch(record, replay=False) is None:
            return
        letter = DeadLetter.of_record(record, (StepError("sweeper", error),))
        deadletters.publish(producer, letter)
        self.journal.dead_lettered(record.message_id, letter.id, error)
        logger.error("%s: dead letter %s: %s", label, letter.id, error)
        result.dead_lettered.append(record.message_id)


def _tasks_waiting(connection: Connection) -> str | None:
    """Why quiet messages may just be waiting (no worker consumes, or a backlog), or None."""
    channel = connection.channel()
    try:
        _, ready, consumers = channel.queue_declare(queue=topology.TASK_QUEUE, passive=True)
    finally:
        channel.close()
    if not consumers:
        return "no worker consumes pacer.tasks"
    if ready:
        return f"{ready} task message(s) wait in pacer.tasks"
    return None
