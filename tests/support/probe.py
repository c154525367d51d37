"""Test-only message type, bridges and steps: each step records in Redis that it ran.

``executions`` counts every run of a step (redeliveries and retries included); ``effects``
is a set, so a step applied twice leaves one effect, as an idempotent ICAT write would.
"""

from __future__ import annotations

import os
import signal
import time

import redis

from pacer_celery.bridges import PacerBridge, callback, callback_order, register
from pacer_celery.errors import PermanentError, TransientError
from pacer_celery.models import PacerModel, Text
from pacer_celery.worker import step

SLOW_SECONDS = 3.0
REDIS_URL = os.environ.get("PACER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def store() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL, decode_responses=True)


class ProbeMessage(PacerModel):
    run: Text
    item: Text
    #: step name → "permanent", "transient" (always), "flaky" (fails once), "hang-once",
    #: "until-fixed" (permanent while the Redis key "<run>:broken" exists), "slow" (takes
    #: SLOW_SECONDS each run), "slow-flaky" (slow, and fails once), "kill-worker" (its
    #: process dies, every time)
    faults: dict[str, str] = {}
    xml_root = "probe"

    @classmethod
    def from_xml(cls, document):
        return {"run": document.get("run"), "item": document.get("item")}


def _act(message: ProbeMessage, name: str) -> dict:
    db = store()
    key = f"{message.run}:{message.item}"
    attempt = db.incr(f"{key}:attempts:{name}")
    db.rpush(f"{key}:executions", name)
    fault = message.faults.get(name)
    if fault == "permanent" or (fault == "until-fixed" and db.exists(f"{message.run}:broken")):
        raise PermanentError(f"{name} refused {message.item}")
    if fault == "transient" or (fault == "flaky" and attempt == 1):
        raise TransientError(f"{name}: service unavailable")
    if fault == "hang-once" and attempt == 1:
        db.set(f"{key}:hanging", os.getpid())
        time.sleep(120)
    if fault in ("slow", "slow-flaky"):
        db.set(f"{key}:running:{name}", attempt)
        time.sleep(SLOW_SECONDS)
        if fault == "slow-flaky" and attempt == 1:
            raise TransientError(f"{name}: service unavailable")
    if fault == "kill-worker":
        os.kill(os.getpid(), signal.SIGKILL)
    db.sadd(f"{key}:effects", name)
    return {"step": name, "attempt": attempt}


@step("probe.first")
def first(message: ProbeMessage) -> dict:
    return _act(message, "first")


@step("probe.second")
def second(message: ProbeMessage) -> dict:
    return _act(message, "second")


@step("probe.third")
def third(message: ProbeMessage, label: str = "third") -> dict:
    return _act(message, label)


@register
class ProbeBridge(PacerBridge):
    dashboard_message_type = "probe"
    queue = "pacer.probe"
    routing_key = "test.probe"
    model = ProbeMessage
    reject_msg_at_first_callback_error = True

    def get_message_object_identifiers(self, message, shared_obj_identifiers={}):  # noqa: B006
        return {"probe": message.item, "run": message.run, **shared_obj_identifiers}

    @callback_order(2)
    def second(self, message):
        return second

    @callback_order(1)
    def first(self, message):
        return first.s()

    @callback
    def third(self, message):
        return third.s(label="third")


@register
class CollectingProbeBridge(ProbeBridge):
    """Same steps, but every step runs even when an earlier one failed."""

    dashboard_message_type = "probe-collecting"
    queue = "pacer.probe-collecting"
    routing_key = "test.probe-collecting"
    reject_msg_at_first_callback_error = False
