"""The bridge: a thin consumer that turns one received message into one Celery chain.

Subclasses declare what the original PACER's consumers declared::

    class DatasetsBridge(PacerBridge):
        dashboard_message_type = "dataset-ingestion"
        queue = "pacer.datasets"
        model = DatasetMessage
        reject_msg_at_first_callback_error = True

        def get_message_object_identifiers(self, message, shared_obj_identifiers={}): ...

        @callback_order(1)
        def create_dataset(self, message):
            return tasks.datasets.create_dataset.s()

Each callback returns the signature (or the step) of one link; the base class adds the
message's id, type, source and identifiers (the dashboard's kwargs), the envelope and the
failure mode, then appends ``finish_message``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from celery import chain
from celery.canvas import Signature

from pacer_celery.envelope import Envelope
from pacer_celery.errors import InvalidMessage
from pacer_celery.models.base import PacerModel
from pacer_celery.report import new_report
from pacer_celery.steps import Step, finish_message
from pacer_celery.topology import TASK_QUEUE

logger = logging.getLogger(__name__)

#: Keyword names the dashboard kwargs already use; identifiers may not take them.
RESERVED = frozenset({"message_id", "message_type", "source", "envelope", "fail_fast", "params"})
MAX_IDENTIFIER_CHARS = 255


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


class PacerBridge:
    dashboard_message_type: ClassVar[str]
    queue: ClassVar[str]
    model: ClassVar[type[PacerModel]]
    reject_msg_at_first_callback_error: ClassVar[bool] = True
    #: Routing key when no setting names one (see Settings.routing_key_for).
    routing_key: ClassVar[str | None] = None

    def get_message_object_identifiers(
        self, message: PacerModel, shared_obj_identifiers: Mapping[str, Any] = {}  # noqa: B006
    ) -> dict[str, Any]:
        """The objects this message concerns, for the dashboard's search."""
        return dict(shared_obj_identifiers)

    @classmethod
    def callbacks(cls) -> list[str]:
        """Callback names in chain order: by callback_order, then unordered ones by name."""
        found = []
        for name in dir(cls):
            if not hasattr(getattr(cls, name), "callback_order"):
                continue
            order = getattr(cls, name).callback_order
            found.append((order is None, order or 0, name))
        return [name for *_, name in sorted(found)]

    def build_chain(self, envelope: Envelope) -> chain:
        """Validate the message and return its chain; raises InvalidMessage.

        A bug in a subclass (identifiers, callbacks) becomes an InvalidMessage too: the
        message is dead-lettered with the error, to be replayed once the bug is fixed.
        """
        message = envelope.parse(self.model)
        try:
            return self._chain(envelope, message)
        except Exception as exc:  # noqa: BLE001
            logger.exception("message %s: bridge failed to build its chain", envelope.message_id)
            raise InvalidMessage(f"bridge error: {type(exc).__name__}: {exc}") from exc

    def _chain(self, envelope: Envelope, message: PacerModel) -> chain:
        dashboard = {
            "message_id": envelope.message_id,
            "message_type": self.dashboard_message_type,
            "source": envelope.source,
            **self._identifiers(message),
        }
        hidden = {"envelope": envelope.to_dict()}
        links = []
        for name in self.callbacks():
            link = _as_signature(getattr(self, name)(message))
            links.append(self._link(link.task, dashboard, {
                **hidden,
                "fail_fast": self.reject_msg_at_first_callback_error,
                "params": dict(link.kwargs),
            }))
        links.append(self._link(finish_message.name, dashboard, hidden))
        # The bridge never waits for results: without ignore_result, Celery's Redis backend
        # would subscribe the bridge to a result channel per message, and never let go.
        links[0] = links[0].clone(args=(new_report(envelope.message_id),), ignore_result=True)
        return chain(*links)

    def _identifiers(self, message: PacerModel) -> dict[str, Any]:
        identifiers = self.get_message_object_identifiers(message)
        clash = RESERVED.intersection(identifiers)
        if clash:
            raise TypeError(f"{type(self).__name__}: identifiers may not be named {sorted(clash)}")
        # Identifiers are search keys, not payloads: plain, short values.
        return {
            key: value if isinstance(value, (int, float, bool)) or value is None
            else str(value)[:MAX_IDENTIFIER_CHARS]
            for key, value in identifiers.items()
        }

    @staticmethod
    def _link(task_name: str, dashboard: dict[str, Any], hidden: dict[str, Any]) -> Signature:
        return Signature(
            task_name,
            kwargs={**dashboard, **hidden},
            options={
                "queue": TASK_QUEUE,
                # An unroutable task message raises instead of vanishing.
                "mandatory": True,
                # Flower shows and searches this repr: ids and identifiers, no payload.
                "kwargsrepr": repr(dashboard),
            },
        )


def _as_signature(link: Signature | Step) -> Signature:
    if isinstance(link, Step):
        return link.s()
    if isinstance(link, Signature):
        return link
    raise TypeError(f"a callback must return a step or its signature, not {type(link).__name__}")
