"""The bridge: a thin consumer that turns one received message into one Celery chain.

Subclasses declare what the original PACER's consumers declared (``bridges/datasets.py``
is one): the message type, its queue and routing key, its model, the failure mode, the
identifiers the dashboard finds it by, and the callbacks that make its chain, in
``callback_order``.

Each callback returns the step of one link, or ``step.s(**params)`` to give the step
keyword arguments of its own. A step is named, not imported: ``steps("datasets")`` stands
for the steps of that group, so the bridge side never loads the worker's code (nor
python-icat); a facility's one-module message type may return its step functions too.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from celery import chain

from pacer_celery import chains
from pacer_celery.chains import StepCall
from pacer_celery.envelope import Envelope
from pacer_celery.errors import ConfigurationError, InvalidMessage
from pacer_celery.models.base import PacerModel
from pacer_celery.report import new_report
from pacer_celery.settings import Settings, get_settings

logger = logging.getLogger(__name__)


def callback_order(position: int) -> Callable[[Callable], Callable]:
    """Make a method a callback at ``position`` in the chain (lower first)."""

    def mark(func: Callable) -> Callable:
        func.callback_order = position
        return func

    return mark


def callback(func: Callable) -> Callable:
    """Make a method a callback that runs after the ordered ones."""
    func.callback_order = None
    return func


class steps:  # noqa: N801 - reads as a namespace: ``datasets = steps("datasets")``
    """The steps of one group, by name: ``steps("datasets").create_dataset`` is the
    step registered as ``@step("datasets.create_dataset")``."""

    def __init__(self, group: str) -> None:
        self._group = group

    def __getattr__(self, name: str) -> StepCall:
        if name.startswith("_"):
            raise AttributeError(name)
        return StepCall(f"{self._group}.{name}")


@dataclass(frozen=True)
class Validated:
    """What a bridge learnt of a message: the model, and how the journal files it."""

    message: PacerModel
    identifiers: dict[str, str]
    object_key: str | None
    version_at: datetime | None


class PacerBridge:
    dashboard_message_type: ClassVar[str]
    queue: ClassVar[str]
    model: ClassVar[type[PacerModel]]
    reject_msg_at_first_callback_error: ClassVar[bool] = True
    #: The routing key its producers publish with; a setting may override it
    #: (``Settings.routing_key_for``).
    routing_key: ClassVar[str | None] = None
    #: How messages of one object are ordered (see journal.ordering): ``"newest"``, the
    #: newest message wins and older ones are superseded; ``"append"``, messages only
    #: add to the object, so none is superseded (they still never interleave).
    ordering: ClassVar[str] = "newest"

    def get_message_object_identifiers(
        self, message: PacerModel, shared_obj_identifiers: Mapping[str, Any] = {}  # noqa: B006
    ) -> dict[str, Any]:
        """The objects this message concerns, for the dashboard's search."""
        return dict(shared_obj_identifiers)

    def get_ordering_key(self, message: PacerModel) -> str | None:
        """The object whose newest message wins, or None for messages that need no order."""
        return None

    def get_version_time(self, message: PacerModel) -> datetime | None:
        """The source's time of this version of the object, if the message carries one
        (``updated_at``); without it, the order PACER received messages in decides."""
        return getattr(message, "updated_at", None)

    @classmethod
    def routing_key_in(cls, settings: Settings) -> str:
        """The routing key in effect: a setting's, else the class's own."""
        key = settings.routing_key_for(cls.dashboard_message_type, cls.routing_key)
        if not key:
            raise ConfigurationError(f"{cls.__name__} names no routing_key and no setting gives one")
        return key

    @classmethod
    @functools.cache  # a class's callbacks are fixed once it is defined; dir() is not cheap
    def callbacks(cls) -> tuple[str, ...]:
        """Callback names in chain order: by callback_order, then unordered ones by name."""
        found = []
        for name in dir(cls):
            if not hasattr(getattr(cls, name), "callback_order"):
                continue
            order = getattr(cls, name).callback_order
            found.append((order is None, order or 0, name))
        return tuple(name for *_, name in sorted(found))

    def validate(self, envelope: Envelope) -> Validated:
        """Parse and validate the message, and work out how it is filed; raises
        InvalidMessage.

        A bug in a subclass (identifiers, ordering key) becomes an InvalidMessage too:
        the message is dead-lettered with the error, to be replayed once it is fixed.
        """
        message = envelope.parse(self.model)
        try:
            return Validated(
                message=message,
                identifiers=chains.identifiers(self.get_message_object_identifiers(message)),
                object_key=self.get_ordering_key(message) if get_settings().ordering else None,
                version_at=self.get_version_time(message),
            )
        except Exception as exc:  # noqa: BLE001
            logger.exception("message %s: bridge %s failed on it", envelope.message_id, type(self).__name__)
            raise InvalidMessage(f"bridge error: {type(exc).__name__}: {exc}") from exc

    def calls(self, message: PacerModel) -> list[StepCall]:
        """The steps of the message's chain, in order."""
        return [_as_call(getattr(self, name)(message)) for name in self.callbacks()]

    def build_chain(
        self, message_id: str, source: str, validated: Validated, dispatch: int
    ) -> chain:
        """The chain for dispatch number ``dispatch`` of a validated message."""
        head = chains.Link(
            message_id=message_id,
            message_type=self.dashboard_message_type,
            source=source,
            identifiers=validated.identifiers,
            dispatch=dispatch,
            fail_fast=self.reject_msg_at_first_callback_error,
            supersedable=validated.object_key is not None and self.ordering == "newest",
        )
        return chains.build(head, self.calls(validated.message), new_report(message_id))


def _as_call(link: Any) -> StepCall:
    if isinstance(link, StepCall):
        return link
    call = getattr(link, "call", None)  # a step function made with @step
    if callable(call):
        return call()
    raise TypeError(f"a callback must return a step or step.s(...), not {type(link).__name__}")
