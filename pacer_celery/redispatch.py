"""Dispatching a journaled message again, from its journaled body: an operator's replay
(``pacer messages replay``, the dashboard) and the sweeper's net under stalled chains.

The message is validated again exactly as a bridge would, so a replay after a fix of
the bridge's rules sees the new rules; a new dispatch number makes any link still in
flight from an earlier dispatch stale (the worker drops it).
"""

from __future__ import annotations

from dataclasses import dataclass

from kombu import Producer

from pacer_celery import bridges, chains
from pacer_celery import headers as header_codec
from pacer_celery.bridges.base import PacerBridge, Validated
from pacer_celery.envelope import Envelope, Raw
from pacer_celery.errors import ConfigurationError, InvalidMessage
from pacer_celery.journal import Journal, Record
from pacer_celery.settings import get_settings


@dataclass(frozen=True)
class Outcome:
    message_id: str
    #: replayed, would replay, redispatched, still invalid, moved on
    action: str
    detail: str = ""


def revalidate(record: Record) -> tuple[PacerBridge, Envelope, Validated]:
    """The journaled message through its bridge's checks again; raises InvalidMessage."""
    try:
        bridge = bridges.bridge_for(record.message_type)()
    except ConfigurationError as exc:
        raise InvalidMessage(str(exc)) from None
    raw = Raw(
        body=record.body,
        content_type=record.content_type,
        headers=header_codec.from_json(record.headers),
        message_id=record.message_id,
        routing_key=record.routing_key or "",
    )
    envelope = Envelope.receive(raw, record.message_type, get_settings().max_message_bytes)
    return bridge, envelope, bridge.validate(envelope)


def dispatch_again(
    journal: Journal,
    record: Record,
    producer: Producer,
    *,
    actor: str | None,
    dry_run: bool = False,
) -> Outcome:
    """Dispatch ``record`` anew on ``producer`` (whose publishes are confirmed).

    ``actor``: the operator replaying it (recorded in the journal), or None for the
    sweeper, whose re-dispatches are counted and bounded.
    """
    try:
        bridge, envelope, validated = revalidate(record)
    except InvalidMessage as exc:
        return Outcome(record.message_id, "still invalid", str(exc))
    if dry_run:
        return Outcome(record.message_id, "would replay", f"{len(bridge.calls(validated.message))} steps")
    dispatch = journal.redispatch(record, replay=actor is not None)
    if dispatch is None:
        return Outcome(record.message_id, "moved on", "the message changed meanwhile; nothing done")
    chains.send(bridge.build_chain(record.message_id, envelope.source, validated, dispatch), producer)
    if actor is None:
        return Outcome(record.message_id, "redispatched", f"dispatch {dispatch}")
    journal.record_action(actor, "replay", record.message_id, {"dispatch": dispatch})
    return Outcome(record.message_id, "replayed", f"dispatch {dispatch}")
