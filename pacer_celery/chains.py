"""A message's chain as plain data, and the contract its links' keyword arguments keep.

Every link of a chain is one step's Celery task. Its keyword arguments are, in full:

- ``message_id``, ``message_type``, ``source`` and the message's identifiers
  (``instrument``, ``dataset``, ...): plain values Flower shows and searches
  (``kwargs:instrument=ID01``); they are the link's ``kwargsrepr``;
- ``pacer``: what only the worker runtime reads: the dispatch the link belongs to, the
  step's own parameters, the attempt, and the chain's failure mode.

No message body travels in a link: the worker reads it from the journal by its id (the
claim check). The previous link's report is the link's one positional argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from celery import chain
from celery.canvas import Signature
from kombu import Producer

from pacer_celery.topology import MAX_PRIORITY, TASK_QUEUE

#: The kwargs every link carries besides the identifiers; identifiers may not use them.
DASHBOARD = ("message_id", "message_type", "source")
HIDDEN = "pacer"
RESERVED = frozenset((*DASHBOARD, HIDDEN))
MAX_IDENTIFIER_CHARS = 255
#: Celery task names of steps: ``pacer.<step name>``.
TASK_PREFIX = "pacer."


@dataclass(frozen=True)
class StepCall:
    """One link to be: a step (by name) and its step-specific keyword arguments."""

    step: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return TASK_PREFIX + self.step

    def s(self, **params: Any) -> StepCall:
        """This step with step-specific keyword arguments (Celery's word for it)."""
        return StepCall(self.step, params)


@dataclass(frozen=True)
class Link:
    """What a link's keyword arguments say, read and written only here."""

    message_id: str
    message_type: str
    source: str
    identifiers: Mapping[str, str]
    dispatch: int
    #: True: the chain stops at the first step that fails for good.
    fail_fast: bool
    #: True: an older message for the same object is superseded (see journal.ordering).
    supersedable: bool
    params: Mapping[str, Any] = field(default_factory=dict)
    attempt: int = 1
    #: When the step's first attempt failed (epoch seconds): a fault that may wait a while
    #: (a proposal not there yet) counts its patience from there, not from a backlog.
    failing_since: float | None = None

    def dashboard(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "message_type": self.message_type,
            "source": self.source,
            **self.identifiers,
        }

    def kwargs(self) -> dict[str, Any]:
        hidden = {
            "dispatch": self.dispatch,
            "fail_fast": self.fail_fast,
            "supersedable": self.supersedable,
            "params": dict(self.params),
            "attempt": self.attempt,
            "failing_since": self.failing_since,
        }
        return {**self.dashboard(), HIDDEN: hidden}

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> Link:
        hidden = kwargs[HIDDEN]
        return cls(
            message_id=kwargs["message_id"],
            message_type=kwargs["message_type"],
            source=kwargs["source"],
            identifiers={k: v for k, v in kwargs.items() if k not in RESERVED},
            dispatch=hidden["dispatch"],
            fail_fast=hidden["fail_fast"],
            supersedable=hidden["supersedable"],
            params=hidden.get("params") or {},
            attempt=hidden.get("attempt", 1),
            failing_since=hidden.get("failing_since"),
        )

    def describe(self) -> str:
        return describe(self.message_type, self.identifiers, self.message_id)

    def retried(self, failing_since: float | None) -> Link:
        return replace(self, attempt=self.attempt + 1, failing_since=self.failing_since or failing_since)

    def signature(self, call: StepCall, position: int = 0, args: tuple[Any, ...] = ()) -> Signature:
        link = replace(self, params=call.params, attempt=1, failing_since=None)
        return Signature(
            call.task,
            args=args,
            kwargs=link.kwargs(),
            options={
                "queue": TASK_QUEUE,
                # Later links first: a message under way finishes before a new one starts.
                "priority": min(position, MAX_PRIORITY),
                # An unroutable task message raises instead of vanishing.
                "mandatory": True,
                # Flower shows and searches this repr: ids and identifiers, nothing else.
                "kwargsrepr": repr(self.dashboard()),
            },
        )


def describe(message_type: str, identifiers: Mapping[str, Any], message_id: str) -> str:
    """How logs name a message: ``dataset-ingestion ID01/sample1_0001 (proposal 20261234) [0f9c2a1b]``.

    The first two identifiers make its name, the others follow with theirs.
    """
    values = [str(v) for v in identifiers.values()]
    name = "/".join(values[:2])
    rest = ", ".join(f"{k} {v}" for k, v in list(identifiers.items())[2:])
    return " ".join(filter(None, (message_type, name, f"({rest})" if rest else "", f"[{message_id}]")))


def identifiers(values: Mapping[str, Any]) -> dict[str, str]:
    """Identifiers as search keys: plain, short text, under names no link kwarg uses."""
    clash = RESERVED.intersection(values)
    if clash:
        raise TypeError(f"identifiers may not be named {sorted(clash)}")
    return {str(key): str(value)[:MAX_IDENTIFIER_CHARS] for key, value in values.items() if value is not None}


def build(head: Link, calls: list[StepCall], report: dict[str, Any]) -> chain:
    """The chain of ``calls`` for the message ``head`` describes; the first link gets
    ``report``, each next one the report of the link before it."""
    first, *rest = calls
    return chain(head.signature(first, 0, (report,)), *(head.signature(call, n) for n, call in enumerate(rest, 1)))


def send(flow: chain, producer: Producer, **options: Any) -> None:
    """Publish ``flow``'s first link carrying the others, on ``producer``.

    What ``chain.apply_async`` sends, but on a producer of the caller's, whose confirms
    the caller awaits. Nobody waits for results: without ``ignore_result``, Celery's
    Redis backend would subscribe the sender to a result channel per message.
    """
    first, *rest = flow.tasks
    # argsrepr: the report is plain data, its repr needs none of saferepr's care.
    first.apply_async(producer=producer, chain=list(reversed(rest)), ignore_result=True,
                      argsrepr=repr(first.args), **options)
