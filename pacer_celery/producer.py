"""The producer the User Office System and the DAQ use to send PACER messages.

Reliable by construction: one connection reused across messages, persistent messages,
publisher confirms and ``mandatory=True``. A message the broker cannot route or does not
confirm raises; it is never just logged.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from kombu import Connection, Producer

from pacer_celery import bridges, topology
from pacer_celery.settings import Settings, get_settings

logger = logging.getLogger(__name__)

JSON = "application/json"
XML = "application/xml"


class PublishError(Exception):
    """The broker did not take the message (unroutable, refused or unreachable)."""


class PacerProducer:
    """Publishes messages of messages.md. Use as a context manager, or call ``close()``."""

    def __init__(self, settings: Settings | None = None, *, source: str = "pacer") -> None:
        self.settings = settings or get_settings()
        self.source = source
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._returned: list[str] = []

    def __enter__(self) -> PacerProducer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.release()
        self._connection = self._producer = None

    def publish(
        self,
        message_type: str,
        payload: Any,
        *,
        content_type: str | None = None,
        message_id: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        """Send one message and return its id once the broker has confirmed it.

        ``payload`` is a dict/list (sent as JSON) or the body itself as str/bytes (then
        ``content_type`` says what it is; JSON when omitted).
        """
        if self.settings.producer_disabled:
            raise PublishError("publishing is disabled (PACER_PRODUCER_DISABLED=true)")
        routing_key = bridges.bridge_for(message_type).routing_key_in(self.settings)
        if isinstance(payload, (dict, list)):
            body, content_type = json.dumps(payload).encode("utf-8"), JSON
        else:
            body = payload.encode("utf-8") if isinstance(payload, str) else payload
            content_type = content_type or JSON
        message_id = message_id or str(uuid.uuid4())
        # The original PACER's headers, which the User Office System also sends.
        all_headers = {"source": self.source, "content-type": content_type, **(headers or {})}
        self._send(body, routing_key, content_type, all_headers, message_id)
        logger.info("published %s message %s to %s", message_type, message_id, routing_key)
        return message_id

    def _send(self, body: bytes, routing_key: str, content_type: str, headers: dict, message_id: str) -> None:
        self._returned.clear()
        try:
            producer = self._ensure_producer()
            publish = self._connection.ensure(producer, producer.publish, max_retries=3)
            publish(
                body,
                exchange=topology.exchange(self.settings),
                routing_key=routing_key,
                mandatory=True,
                delivery_mode="persistent",
                content_type=content_type,
                content_encoding="utf-8",
                headers=headers,
                message_id=message_id,
            )
        except Exception as exc:
            self.close()  # a broken connection is not reused; the next publish reconnects
            raise PublishError(f"message {message_id} not published: {exc}") from exc
        # RabbitMQ sends basic.return before the confirm, so it has arrived by now.
        if self._returned:
            raise PublishError(
                f"message {message_id} is unroutable: no queue is bound to {routing_key!r} "
                f"on exchange {self.settings.rmq_exchange!r} ({self._returned[0]})"
            )

    def _ensure_producer(self) -> Producer:
        if self._producer is None:
            self._connection = Connection(
                self.settings.broker(),
                transport_options={"confirm_publish": True},
                connect_timeout=10,
            )
            self._producer = Producer(
                self._connection, exchange=topology.exchange(self.settings), on_return=self._on_return
            )
            self._producer.declare()
        return self._producer

    def _on_return(self, exception: Exception, exchange: str, routing_key: str, message: Any) -> None:
        self._returned.append(str(exception))
