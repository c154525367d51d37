"""Task messages a worker rejected, turned into dead letters.

A worker rejects a task message without requeueing it when it does not know the task
(bridges upgraded before workers; a facility's module missing from a worker's
``PACER_BRIDGE_MODULES``) or when the message it names is not in its journal. RabbitMQ
then moves it from ``pacer.tasks`` to ``pacer.tasks.rejected`` (the queue's dead-letter
arguments), and the bridges drain that queue here: each becomes the dead letter of its
message, rebuilt from the journal, so that nothing a bridge accepted is ever lost.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Any

from kombu import compression
from kombu.message import Message

from pacer_celery import chains
from pacer_celery.deadletters import DeadLetter, StepError
from pacer_celery.envelope import raw_body
from pacer_celery.journal.store import FINAL, Record


@dataclass(frozen=True)
class RejectedTask:
    task: str
    task_id: str
    why: str
    kwargs: dict[str, Any]
    body: bytes

    @classmethod
    def from_amqp(cls, message: Message) -> RejectedTask:
        headers = message.headers or {}
        deaths = headers.get("x-death") or [{}]
        body = raw_body(message)
        return cls(
            task=str(headers.get("task") or "?"),
            task_id=str(headers.get("id") or "?"),
            why=str(deaths[0].get("reason") or "rejected"),
            kwargs=_kwargs(body, headers),
            body=body,
        )

    @property
    def message_id(self) -> str | None:
        value = self.kwargs.get("message_id")
        return value if isinstance(value, str) else None

    @property
    def label(self) -> str:
        identifiers = {k: v for k, v in self.kwargs.items() if k not in chains.RESERVED}
        return chains.describe(str(self.kwargs.get("message_type", "task")), identifiers, self.message_id or self.task_id)

    def dead_letter(self, record: Record | None) -> DeadLetter | None:
        """The dead letter for this task's message, or None if it met its fate already."""
        if record is None:
            # Not in the journal (pruned, or another journal): keep what there is, the
            # task message itself, so that an operator can still find out what it was.
            return DeadLetter(
                message_id=self.message_id or self.task_id,
                message_type=str(self.kwargs.get("message_type", "")),
                routing_key="",
                body=self.body,
                content_type=None,
                headers={},
                reason=f"task {self.task} was {self.why} by a worker and its message is not in the journal",
                errors=(StepError(self.task.removeprefix(chains.TASK_PREFIX), "message not in the journal"),),
            )
        if record.status in FINAL:
            return None
        step = self.task.removeprefix(chains.TASK_PREFIX)
        error = (
            f"a worker {self.why} task {self.task}: it does not know this step (is its PACER, or its "
            "PACER_BRIDGE_MODULES, older or other than the bridge's?)"
        )
        return DeadLetter.of_record(record, (StepError(step, error),))


def _kwargs(body: bytes, headers: dict[str, Any]) -> dict[str, Any]:
    """The task's kwargs (Celery's message protocol 2: ``[args, kwargs, embed]``), or
    what its ``kwargsrepr`` header shows when the body cannot be read."""
    try:
        if headers.get("compression"):
            body = compression.decompress(body, headers["compression"])
        _, kwargs, _ = json.loads(body)
        if isinstance(kwargs, dict):
            return kwargs
    except (ValueError, TypeError):
        pass
    try:
        shown = ast.literal_eval(str(headers.get("kwargsrepr") or "{}"))
        return shown if isinstance(shown, dict) else {}
    except (ValueError, SyntaxError):
        return {}
