"""Steps: plain functions that do a message's work, run by Celery as links of a chain.

A step is written as a typed function, ``def create_dataset(message: DatasetMessage, icat)``
and decorated with ``@step("datasets.create_dataset")``. It stays callable as the plain
function (tests, scripts); ``.s(**params)`` gives the Celery signature a bridge puts in a
chain. The Celery side, written once here, does the rest: re-reading the message from its
envelope, handing over the process's ICAT client, retrying transient faults with backoff and
jitter, and dead-lettering a message that fails for good before its task message is acked.
"""

from __future__ import annotations

import functools
import inspect
import logging
import random
import threading
import time
import typing
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.canvas import Signature
from celery.exceptions import Reject

from pacer_celery import deadletters
from pacer_celery.app import app
from pacer_celery.envelope import Envelope
from pacer_celery.errors import DeadLettered, describe, is_transient
from pacer_celery.models.base import PacerModel
from pacer_celery.report import Report, failures, with_failure, with_success
from pacer_celery.settings import get_settings

logger = logging.getLogger(__name__)

#: The keyword arguments every step task gets besides the dashboard's (message_id,
#: message_type, source and the identifiers). They are hidden from the dashboard.
HIDDEN_KWARGS = ("envelope", "fail_fast", "params")


class Step:
    """A chain step: the plain function plus the Celery task that runs it."""

    def __init__(self, func: Callable[..., Any], name: str) -> None:
        functools.update_wrapper(self, func)
        self.func = func
        self.name = name
        hints = typing.get_type_hints(func)
        self.model: type[PacerModel] = hints["message"]
        self.wants_icat = "icat" in inspect.signature(func).parameters

        def run(task: Task, report: Report, **kwargs: Any) -> Report:
            return self._run(task, report, **kwargs)

        run.__module__, run.__qualname__ = func.__module__, func.__qualname__
        # typing=False: a link gets its report from the previous link only when it runs.
        # max_retries=None: _retry_delay decides when to give up (Celery's default of 3
        # would otherwise raise the error from task.retry, bypassing the dead letter).
        self.task: Task = app.task(bind=True, name=f"pacer.{name}", typing=False, max_retries=None)(run)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def s(self, **params: Any) -> Signature:
        """The signature of this step with step-specific ``params`` for the function."""
        return self.task.s(**params)

    def _run(
        self,
        task: Task,
        report: Report,
        *,
        envelope: dict[str, Any],
        fail_fast: bool,
        params: dict[str, Any] | None = None,
        **dashboard: Any,
    ) -> Report:
        env = Envelope.from_dict(envelope)
        attempts = task.request.retries + 1
        try:
            message = _parsed(env, self.model)
            extra = {"icat": _icat_client()} if self.wants_icat else {}
            result = self.func(message, **(params or {}), **extra)
        except Exception as exc:  # noqa: BLE001 - every failure is classified below
            return self._failed(task, report, env, exc, attempts, fail_fast, dashboard)
        logger.info(
            "message %s (%s): step %s done", env.message_id, env.message_type, self.name
        )
        return with_success(report, self.name, result)

    def _failed(
        self,
        task: Task,
        report: Report,
        env: Envelope,
        exc: Exception,
        attempts: int,
        fail_fast: bool,
        dashboard: dict[str, Any],
    ) -> Report:
        settings = get_settings()
        if is_transient(exc):
            wait = _retry_delay(exc, env, attempts, settings)
            if wait is not None:
                logger.warning(
                    "message %s (%s): step %s attempt %d failed (%s), retrying in %.1fs",
                    env.message_id, env.message_type, self.name, attempts, describe(exc), wait,
                )
                # The retry is a new task message: it keeps the dashboard's view of the
                # kwargs (ids, no payload), which Celery would otherwise rebuild from all kwargs.
                raise task.retry(exc=exc, countdown=wait, max_retries=None, kwargsrepr=repr(dashboard))
            error = f"gave up after {attempts} attempts: {describe(exc)}"
        else:
            error = describe(exc)
        logger.error(
            "message %s (%s): step %s failed: %s", env.message_id, env.message_type, self.name, error
        )
        report = with_failure(report, self.name, error, attempts)
        if fail_fast:
            dead_letter(env, report, dashboard)
            raise DeadLettered(f"{self.name}: {error}")
        return report


def step(name: str) -> Callable[[Callable[..., Any]], Step]:
    """Make a plain function a chain step registered as the Celery task ``pacer.<name>``."""

    def decorate(func: Callable[..., Any]) -> Step:
        return Step(func, name)

    return decorate


@app.task(bind=True, name="pacer.finish_message", typing=False)
def finish_message(task: Task, report: Report, *, envelope: dict[str, Any], **dashboard: Any) -> Report:
    """The last link of every chain: the message is done, or dead-lettered with all errors.

    Only chains that run every step despite failures reach here with failures.
    """
    env = Envelope.from_dict(envelope)
    failed = failures(report)
    if failed:
        dead_letter(env, report, dashboard)
        raise DeadLettered("; ".join(f"{f['step']}: {f['error']}" for f in failed))
    logger.info("message %s (%s): done", env.message_id, env.message_type)
    return report


def dead_letter(env: Envelope, report: Report, dashboard: dict[str, Any]) -> None:
    """Publish the message to the dead letters; confirmed before the caller's task is acked."""
    errors = tuple(
        deadletters.StepError(f["step"], f["error"], f["attempts"]) for f in failures(report)
    )
    identifiers = {
        k: v for k, v in dashboard.items() if k not in ("message_id", "message_type", "source")
    }
    letter = deadletters.DeadLetter(
        message_id=env.message_id,
        message_type=env.message_type,
        routing_key=env.routing_key,
        body=env.body.encode("utf-8"),
        content_type=env.content_type,
        headers=env.headers,
        reason="; ".join(f"{e.step}: {e.error}" for e in errors),
        errors=errors,
        identifiers=identifiers,
    )
    try:
        with app.producer_or_acquire() as producer:
            deadletters.publish(producer, letter)
    except Exception as exc:
        # Not in the dead letters, so the task message must not be acked: it comes back
        # and the step runs again (steps are idempotent).
        logger.error("message %s: could not dead-letter (%s); requeueing", env.message_id, exc)
        raise Reject(f"dead-letter publish failed: {exc}", requeue=True) from exc
    logger.error(
        "message %s (%s) dead-lettered as %s: %s",
        env.message_id, env.message_type, letter.id, letter.reason,
    )


def _retry_delay(exc: Exception, env: Envelope, attempts: int, settings) -> float | None:
    """Seconds until the next attempt (exponential, with jitter), or None to give up."""
    give_up_after = getattr(exc, "give_up_after", None)
    delay = min(
        settings.retry_backoff_max_seconds,
        settings.retry_backoff_seconds * 2 ** (attempts - 1),
    )
    # Jitter spreads retries of many messages hitting the same outage.
    delay *= random.uniform(0.5, 1.0)
    if give_up_after is None:
        return delay if attempts <= settings.max_retries else None
    remaining = give_up_after - (time.time() - env.received_at)
    if remaining <= 0:
        return None
    return min(delay, remaining)


#: Messages parsed lately in this process: the steps of one chain usually run in the same
#: worker process, one after another, and a dataset's 10 000 datafiles need not be
#: validated again at every step. Models are frozen, so sharing an instance is safe.
_recent: OrderedDict[tuple, PacerModel] = OrderedDict()
_recent_lock = threading.Lock()
_RECENT_SIZE = 8


def _parsed(env: Envelope, model: type[PacerModel]) -> PacerModel:
    key = (model, env.message_id, env.content_type, hash(env.body))
    with _recent_lock:
        message = _recent.get(key)
    if message is None:
        message = env.parse(model)
        with _recent_lock:
            _recent[key] = message
            while len(_recent) > _RECENT_SIZE:
                _recent.popitem(last=False)
    return message


def _icat_client():
    from pacer_celery.icat.session import client

    return client()
