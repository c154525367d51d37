"""Dead letters: a message PACER could not process, kept whole with the reason why.

A dead letter is the original message (body, content type, headers, message id) published
to ``pacer.dlq``, with PACER's findings in ``x-pacer-*`` headers. It is built here and
nowhere else: from a message a bridge refused (``of_raw``) or from a journaled message
that failed for good (``of_record``). Replaying it strips the findings and publishes the
original again to its routing key.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kombu import Connection, Producer
from kombu.message import Message

from pacer_celery import headers as header_codec
from pacer_celery import topology
from pacer_celery.envelope import Raw, keep_bodies, raw_body
from pacer_celery.journal.store import Record

PREFIX = "x-pacer-"
#: Enough to read the cause; a 10 000-line traceback helps nobody in a header.
MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class StepError:
    step: str
    error: str
    attempts: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.step, "error": self.error[:MAX_ERROR_CHARS], "attempts": self.attempts}


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    message_type: str
    routing_key: str
    body: bytes
    #: As the producer gave it (the property, else the ``content-type`` header), or None.
    content_type: str | None
    headers: dict[Any, Any]
    reason: str
    errors: tuple[StepError, ...] = ()
    identifiers: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    dead_lettered_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )

    @classmethod
    def of_raw(cls, raw: Raw, message_type: str, message_id: str, reason: str) -> DeadLetter:
        """A message a bridge refused, exactly as it came."""
        return cls(
            message_id=message_id,
            message_type=message_type,
            routing_key=raw.routing_key,
            body=raw.body,
            content_type=raw.effective_content_type,
            headers=raw.headers,
            reason=reason,
            errors=(StepError("validate", reason),),
        )

    @classmethod
    def of_record(cls, record: Record, errors: tuple[StepError, ...]) -> DeadLetter:
        """A journaled message that failed for good, rebuilt from the journal."""
        return cls(
            message_id=record.message_id,
            message_type=record.message_type,
            routing_key=record.routing_key or "",
            body=record.body,
            content_type=record.content_type,
            headers=header_codec.from_json(record.headers),
            reason="; ".join(f"{e.step}: {e.error}" for e in errors),
            errors=errors,
            identifiers=dict(record.identifiers),
        )

    @property
    def attempts(self) -> int:
        return max((e.attempts for e in self.errors), default=0)

    @property
    def failed_steps(self) -> list[str]:
        return [e.step for e in self.errors]

    def amqp_headers(self) -> dict[Any, Any]:
        findings = {
            "id": self.id,
            "message-id": self.message_id,
            "message-type": self.message_type,
            "routing-key": self.routing_key,
            "reason": self.reason[:MAX_ERROR_CHARS],
            "errors": json.dumps([e.as_dict() for e in self.errors]),
            "identifiers": json.dumps(self.identifiers, default=str),
            "attempts": self.attempts,
            "dead-lettered-at": self.dead_lettered_at,
            "content-type": self.content_type or "",
        }
        return {**_original(self.headers), **{PREFIX + k: v for k, v in findings.items()}}

    @classmethod
    def from_amqp(cls, message: Message) -> DeadLetter:
        headers = dict(message.headers or {})
        pacer = {k[len(PREFIX):]: v for k, v in headers.items() if isinstance(k, str) and k.startswith(PREFIX)}
        errors = tuple(StepError(**e) for e in json.loads(pacer.get("errors") or "[]"))
        return cls(
            id=str(pacer.get("id", "")),
            message_id=str(pacer.get("message-id") or message.properties.get("message_id") or ""),
            message_type=str(pacer.get("message-type", "")),
            routing_key=str(pacer.get("routing-key", "")),
            body=raw_body(message),
            content_type=str(pacer.get("content-type") or "") or None,
            headers=_original(headers),
            reason=str(pacer.get("reason", "")),
            errors=errors,
            identifiers=json.loads(pacer.get("identifiers") or "{}"),
            dead_lettered_at=str(pacer.get("dead-lettered-at", "")),
        )

    def summary(self) -> dict[str, Any]:
        """What ``pacer dlq list --json`` shows: everything but the body."""
        return {
            "id": self.id,
            "message_id": self.message_id,
            "message_type": self.message_type,
            "routing_key": self.routing_key,
            "identifiers": self.identifiers,
            "failed_steps": self.failed_steps,
            "attempts": self.attempts,
            "reason": self.reason,
            "errors": [e.as_dict() for e in self.errors],
            "source": self.headers.get("source"),
            "content_type": self.content_type,
            "body_bytes": len(self.body),
            "dead_lettered_at": self.dead_lettered_at,
        }

    def publish_arguments(self) -> dict[str, Any]:
        """``Producer.publish`` arguments that put this letter in ``pacer.dlq``.

        The body goes as the bytes it was (``binary``), whatever its content type says;
        ``x-pacer-content-type`` says whether the producer gave one at all.
        """
        queue = topology.dead_letter_queue()
        return {
            "body": self.body,
            "exchange": "",
            "routing_key": queue.name,
            "declare": [queue],
            "mandatory": True,
            "delivery_mode": "persistent",
            "content_type": self.content_type or "application/octet-stream",
            "content_encoding": "binary",
            "headers": self.amqp_headers(),
            "message_id": self.message_id,
        }


def _original(headers: dict[Any, Any]) -> dict[Any, Any]:
    """The producer's headers, without PACER's findings (a producer may not forge them)."""
    return {k: v for k, v in headers.items() if not (isinstance(k, str) and k.startswith(PREFIX))}


def publish(producer: Producer, letter: DeadLetter) -> None:
    """Publish to ``pacer.dlq``; returns only once the broker has confirmed it.

    The producer's connection must have publisher confirms on (``confirm_publish``):
    callers ack the failed message only after this returns.
    """
    producer.publish(**letter.publish_arguments())


@contextmanager
def held(connection: Connection) -> Iterator[Iterator[tuple[DeadLetter, Message]]]:
    """Dead letters off ``pacer.dlq`` one by one, without acking them.

    Whatever the caller does not ack goes back to the queue when the channel closes, so
    looking never removes anything and a crash mid-way loses nothing. The letters stream:
    a queue of a million is never in memory at once.
    """
    channel = connection.channel()
    keep_bodies(channel)
    try:
        queue = topology.dead_letter_queue()(channel)
        queue.declare()

        def letters() -> Iterator[tuple[DeadLetter, Message]]:
            while (message := queue.get(no_ack=False)) is not None:
                yield DeadLetter.from_amqp(message), message

        yield letters()
    finally:
        channel.close()


def republish(producer: Producer, exchange: str, letter: DeadLetter) -> None:
    """Publish the original message again, as its producer sent it (confirmed, mandatory)."""
    producer.publish(
        letter.body,
        exchange=exchange,
        routing_key=letter.routing_key,
        mandatory=True,
        delivery_mode="persistent",
        content_type=letter.content_type or "application/json",
        content_encoding="binary",
        headers={**letter.headers, "pacer-replayed-from": letter.id},
        message_id=letter.message_id,
    )


@dataclass(frozen=True)
class Outcome:
    letter: DeadLetter
    action: str  # "replayed", "would replay", "still invalid", "purged", "would purge"
    detail: str = ""


def replay(
    connection: Connection,
    exchange: str,
    select: Callable[[DeadLetter], bool],
    validate: Callable[[DeadLetter], str | None],
    *,
    dry_run: bool = False,
) -> Iterator[Outcome]:
    """Re-validate the selected dead letters and publish the valid ones to their routing key.

    A letter leaves the queue only after its original is confirmed republished; one that is
    still invalid stays, with the reason reported. Outcomes come as they happen.
    """
    with held(connection) as letters:
        producer = Producer(connection.default_channel)
        for letter, message in letters:
            if not select(letter):
                continue
            problem = validate(letter)
            if problem:
                yield Outcome(letter, "still invalid", problem)
            elif dry_run:
                yield Outcome(letter, "would replay", letter.routing_key)
            else:
                republish(producer, exchange, letter)
                message.ack()
                yield Outcome(letter, "replayed", letter.routing_key)


def purge(connection: Connection, select: Callable[[DeadLetter], bool], *, dry_run: bool = False) -> Iterator[Outcome]:
    """Delete the selected dead letters for good (``dry_run``: only name them)."""
    with held(connection) as letters:
        for letter, message in letters:
            if select(letter):
                if not dry_run:
                    message.ack()
                yield Outcome(letter, "would purge" if dry_run else "purged")
