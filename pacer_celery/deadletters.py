"""Dead letters: a message PACER could not process, kept whole with the reason why.

A dead letter is the original message (body, content type, headers, message id) published
to ``pacer.dlq``, with PACER's findings in ``x-pacer-*`` headers. Replaying it strips those
headers and publishes the original again to its routing key.
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

from pacer_celery import topology

PREFIX = "x-pacer-"
#: Enough to read the cause; a 10 000-line traceback helps nobody in a header.
MAX_ERROR_CHARS = 4000


def raw_body(message: Message) -> bytes:
    """The body as sent: py-amqp hands a str when the sender set a content_encoding."""
    body = message.body
    return body if isinstance(body, bytes) else body.encode(message.content_encoding or "utf-8")


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
    content_type: str | None
    headers: dict[str, Any]
    reason: str
    errors: tuple[StepError, ...] = ()
    identifiers: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    dead_lettered_at: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )

    @property
    def attempts(self) -> int:
        return max((e.attempts for e in self.errors), default=0)

    @property
    def failed_steps(self) -> list[str]:
        return [e.step for e in self.errors]

    def amqp_headers(self) -> dict[str, Any]:
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
        }
        original = {k: v for k, v in self.headers.items() if not str(k).startswith(PREFIX)}
        return {**original, **{PREFIX + k: v for k, v in findings.items()}}

    @classmethod
    def from_amqp(cls, message: Message) -> DeadLetter:
        headers = dict(message.headers or {})
        pacer = {k[len(PREFIX):]: v for k, v in headers.items() if str(k).startswith(PREFIX)}
        original = {k: v for k, v in headers.items() if not str(k).startswith(PREFIX)}
        errors = tuple(StepError(**e) for e in json.loads(pacer.get("errors") or "[]"))
        return cls(
            id=str(pacer.get("id", "")),
            message_id=str(pacer.get("message-id") or message.properties.get("message_id") or ""),
            message_type=str(pacer.get("message-type", "")),
            routing_key=str(pacer.get("routing-key", "")),
            body=raw_body(message),
            content_type=message.properties.get("content_type") or None,
            headers=original,
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


def publish(producer: Producer, letter: DeadLetter) -> None:
    """Publish to ``pacer.dlq``; returns only once the broker has confirmed it.

    The producer's connection must have publisher confirms on (``confirm_publish``):
    callers ack the failed message only after this returns.
    """
    queue = topology.dead_letter_queue()
    producer.publish(
        letter.body,
        exchange="",
        routing_key=queue.name,
        declare=[queue],
        mandatory=True,
        delivery_mode="persistent",
        content_type=letter.content_type or "application/octet-stream",
        content_encoding="binary",
        headers=letter.amqp_headers(),
        message_id=letter.message_id,
        retry=True,
        retry_policy={"max_retries": 3, "interval_start": 0.5, "interval_step": 1},
    )


@contextmanager
def held(connection: Connection, limit: int | None = None) -> Iterator[list[tuple[DeadLetter, Message]]]:
    """Take dead letters off ``pacer.dlq`` without acking them.

    Whatever the caller does not ack goes back to the queue when the channel closes, so
    looking never removes anything and a crash mid-way loses nothing.
    """
    channel = connection.channel()
    try:
        queue = topology.dead_letter_queue()(channel)
        queue.declare()
        letters: list[tuple[DeadLetter, Message]] = []
        while limit is None or len(letters) < limit:
            message = queue.get(no_ack=False)
            if message is None:
                break
            letters.append((DeadLetter.from_amqp(message), message))
        yield letters
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
        content_encoding="utf-8",
        headers={**letter.headers, "pacer-replayed-from": letter.id},
        message_id=letter.message_id,
    )


@dataclass(frozen=True)
class Outcome:
    letter: DeadLetter
    action: str  # "replayed", "would replay", "still invalid", "purged"
    detail: str = ""


def replay(
    connection: Connection,
    exchange: str,
    select: Callable[[DeadLetter], bool],
    validate: Callable[[DeadLetter], str | None],
    *,
    dry_run: bool = False,
) -> list[Outcome]:
    """Re-validate the selected dead letters and publish the valid ones to their routing key.

    A letter leaves the queue only after its original is confirmed republished; one that is
    still invalid stays, with the reason reported.
    """
    outcomes = []
    with held(connection) as letters:
        producer = Producer(connection.default_channel)
        for letter, message in letters:
            if not select(letter):
                continue
            problem = validate(letter)
            if problem:
                outcomes.append(Outcome(letter, "still invalid", problem))
            elif dry_run:
                outcomes.append(Outcome(letter, "would replay", letter.routing_key))
            else:
                republish(producer, exchange, letter)
                message.ack()
                outcomes.append(Outcome(letter, "replayed", letter.routing_key))
    return outcomes


def purge(connection: Connection, select: Callable[[DeadLetter], bool]) -> list[Outcome]:
    """Delete the selected dead letters for good."""
    outcomes = []
    with held(connection) as letters:
        for letter, message in letters:
            if select(letter):
                message.ack()
                outcomes.append(Outcome(letter, "purged"))
    return outcomes
