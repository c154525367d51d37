"""A received message as PACER carries it: the original body and headers plus what the
bridge learnt (id, type, content type). Dead letters and the journal keep it whole, so a
message can always be rebuilt exactly as the producer sent it.

``Raw`` is the message as it came (from the broker, a dead letter or the journal);
``Envelope.receive`` applies the transport rules of messages.md to it.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kombu.message import Message
from pydantic import ValidationError

from pacer_celery import headers as header_codec
from pacer_celery.errors import InvalidMessage
from pacer_celery.models.base import PacerModel
from pacer_celery.models.xml import parse_xml

JSON = "application/json"
XML_TYPES = ("application/xml", "text/xml")
#: A producer's header tables nest a level or two; deeper ones are refused.
MAX_HEADER_DEPTH = 32
#: Message ids are printed in logs and tables and used as keys: short, printable text.
MAX_MESSAGE_ID_CHARS = 255
#: Set in ``Raw.properties_error`` by the bridge's AMQP guard (see bridges.amqp_guard).
UNREADABLE_PROPERTIES = "x-pacer-unreadable-properties"

M = TypeVar("M", bound=PacerModel)


@dataclass(frozen=True)
class Raw:
    """A message as it came: exact body bytes, the content_type property, headers, id."""

    body: bytes
    content_type: str | None
    headers: dict[Any, Any]
    message_id: str | None
    routing_key: str
    #: Why the AMQP properties (headers, message id, ...) could not be read, if they could not.
    properties_error: str | None = None

    @classmethod
    def from_amqp(cls, message: Message) -> Raw:
        properties = message.properties or {}
        return cls(
            body=raw_body(message),
            content_type=properties.get("content_type") or None,
            headers=dict(message.headers or {}),
            message_id=properties.get("message_id"),
            routing_key=message.delivery_info.get("routing_key", ""),
            properties_error=properties.get(UNREADABLE_PROPERTIES),
        )

    @property
    def effective_content_type(self) -> str | None:
        """The content type as the producer gave it: the property, else the header."""
        header = self.headers.get("content-type")
        return self.content_type or (None if header is None else str(header))


def raw_body(message: Message) -> bytes:
    """The body as sent. PACER's channels do not let py-amqp decode bodies by their
    content_encoding (see ``keep_bodies``); py-amqp still hands an empty body as ``""``."""
    body = message.body
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    return body.encode("utf-8", "surrogateescape")


def keep_bodies(channel: object) -> None:
    """Make ``channel`` hand over bodies as the bytes that came: py-amqp would otherwise
    decode each by its content_encoding, and a dead letter could not keep the original."""
    if hasattr(channel, "auto_decode"):
        channel.auto_decode = False


def content_type_of(raw: Raw) -> str:
    """The AMQP content_type property if set, else the ``content-type`` header, else JSON."""
    given = raw.effective_content_type or JSON
    # Parameters such as "; charset=utf-8" do not change how the body is read.
    return str(given).split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class Envelope:
    message_type: str
    routing_key: str
    content_type: str
    body: bytes
    headers: dict[str, Any] = field(default_factory=dict)
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    received_at: float = field(default_factory=time.time)

    @property
    def source(self) -> str:
        return str(self.headers.get("source", "unknown"))[:255]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    @classmethod
    def receive(cls, raw: Raw, message_type: str, max_bytes: int) -> Envelope:
        """Check the transport-level rules of messages.md and wrap the message.

        Raises InvalidMessage; the caller still owns the raw message and dead-letters it.
        """
        if raw.properties_error:
            raise InvalidMessage(
                f"AMQP properties (content type, headers, message_id, ...) cannot be read: {raw.properties_error}"
            )
        if len(raw.body) > max_bytes:
            raise InvalidMessage(f"message body of {len(raw.body)} bytes exceeds the {max_bytes}-byte limit")
        if header_codec.depth(raw.headers) > MAX_HEADER_DEPTH:
            raise InvalidMessage(f"AMQP headers nest deeper than {MAX_HEADER_DEPTH} levels")
        if not all(isinstance(key, str) for key in raw.headers):
            raise InvalidMessage("an AMQP header key is not UTF-8 text")
        ctype = content_type_of(raw)
        if ctype != JSON and ctype not in XML_TYPES:
            raise InvalidMessage(f"unsupported content type {ctype!r} (use {JSON} or application/xml)")
        try:
            raw.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidMessage(f"body is not UTF-8: {exc}") from None
        return cls(
            message_type=message_type,
            routing_key=raw.routing_key,
            content_type=ctype,
            body=raw.body,
            headers=raw.headers,
            message_id=usable_message_id(raw.message_id) or str(uuid.uuid4()),
        )

    def parse(self, model: type[M]) -> M:
        """Decode the body by content type and validate it with ``model``."""
        if self.content_type == JSON:
            try:
                document = json.loads(self.text)
            except (ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError, huge integers
                raise InvalidMessage(f"malformed JSON: {exc}") from None
        else:
            if model.xml_root is None:
                raise InvalidMessage(f"{self.message_type} messages have no XML form")
            tree = parse_xml(self.body, force_list=model.xml_lists())
            if set(tree) != {model.xml_root}:
                raise InvalidMessage(f"XML root element must be <{model.xml_root}>")
            document = model.from_xml(tree[model.xml_root] or {})
        try:
            return model.model_validate(document)
        except ValidationError as exc:
            raise InvalidMessage(describe_validation_error(exc)) from None


def usable_message_id(message_id: Any) -> str | None:
    """The producer's message id if PACER can key, log and show it: at most 255 printable
    characters of UTF-8 text. Any other (control characters that would forge log lines,
    bidirectional overrides, undecodable bytes) is replaced by an id of PACER's, and the
    message is processed all the same."""
    if not isinstance(message_id, str) or not 0 < len(message_id) <= MAX_MESSAGE_ID_CHARS:
        return None
    if not message_id.isprintable():
        return None
    try:
        message_id.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return message_id


def describe_validation_error(exc: ValidationError, limit: int = 10) -> str:
    """One line per problem, naming the field: what an operator reads in the dead letter."""
    problems = []
    for err in exc.errors()[:limit]:
        where = ".".join(str(p) for p in err["loc"]) or "message"
        problems.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - limit
    if more > 0:
        problems.append(f"... and {more} more")
    return "invalid message: " + "; ".join(problems)
