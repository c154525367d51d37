"""A received message as PACER carries it: the original body and headers plus what the
bridge learnt (id, type, content type). Tasks and dead letters work from it, so a message
can always be rebuilt exactly as the producer sent it."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError

from pacer_celery.errors import InvalidMessage
from pacer_celery.models.base import PacerModel
from pacer_celery.models.xml import parse_xml

JSON = "application/json"
XML_TYPES = ("application/xml", "text/xml")

M = TypeVar("M", bound=PacerModel)


def content_type_of(property_value: str | None, headers: dict[str, Any]) -> str:
    """The AMQP content_type property if set, else the ``content-type`` header, else JSON."""
    raw = property_value or headers.get("content-type") or JSON
    # Parameters such as "; charset=utf-8" do not change how the body is read.
    return str(raw).split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class Envelope:
    message_type: str
    routing_key: str
    content_type: str
    body: str
    headers: dict[str, Any] = field(default_factory=dict)
    message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    received_at: float = field(default_factory=time.time)

    @property
    def source(self) -> str:
        return str(self.headers.get("source", "unknown"))

    @classmethod
    def receive(
        cls,
        *,
        message_type: str,
        routing_key: str,
        body: bytes,
        content_type: str | None,
        headers: dict[str, Any] | None,
        message_id: str | None,
        max_bytes: int,
    ) -> Envelope:
        """Check the transport-level rules of messages.md and wrap the message.

        Raises InvalidMessage; the caller still owns the raw message and dead-letters it.
        """
        headers = dict(headers or {})
        if len(body) > max_bytes:
            raise InvalidMessage(f"message body of {len(body)} bytes exceeds the {max_bytes}-byte limit")
        ctype = content_type_of(content_type, headers)
        if ctype != JSON and ctype not in XML_TYPES:
            raise InvalidMessage(f"unsupported content type {ctype!r} (use {JSON} or application/xml)")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidMessage(f"body is not UTF-8: {exc}") from None
        return cls(
            message_type=message_type,
            routing_key=routing_key,
            content_type=ctype,
            body=text,
            headers=headers,
            message_id=message_id or str(uuid.uuid4()),
        )

    def parse(self, model: type[M]) -> M:
        """Decode the body by content type and validate it with ``model``."""
        if self.content_type == JSON:
            try:
                document = json.loads(self.body)
            except json.JSONDecodeError as exc:
                raise InvalidMessage(f"malformed JSON: {exc}") from None
        else:
            if model.xml_root is None:
                raise InvalidMessage(f"{self.message_type} messages have no XML form")
            tree = parse_xml(self.body.encode("utf-8"), force_list=model.xml_lists())
            if set(tree) != {model.xml_root}:
                raise InvalidMessage(f"XML root element must be <{model.xml_root}>")
            document = model.from_xml(tree[model.xml_root] or {})
        try:
            return model.model_validate(document)
        except ValidationError as exc:
            raise InvalidMessage(describe_validation_error(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Envelope:
        return cls(**data)


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
