"""A test-only message type whose first step takes as long as the message says: time
to break something while a step runs. Loaded with ``PACER_BRIDGE_MODULES=tests.faults.slow``
(bridges and workers both import it)."""

from __future__ import annotations

import time

from pacer_celery.bridges import PacerBridge, callback_order, register
from pacer_celery.models import PacerModel, Text
from pacer_celery.worker import step

MESSAGE_TYPE = "fault-slow"


class SlowMessage(PacerModel):
    item: Text
    seconds: float = 0.0


@step("faults.slow_work")
def slow_work(message: SlowMessage) -> dict:
    time.sleep(message.seconds)
    return {"slept": message.seconds}


@step("faults.slow_done")
def slow_done(message: SlowMessage) -> dict:
    return {"item": message.item}


@register
class SlowBridge(PacerBridge):
    dashboard_message_type = MESSAGE_TYPE
    queue = "pacer.fault-slow"
    routing_key = "test.fault-slow"
    model = SlowMessage
    reject_msg_at_first_callback_error = True

    def get_message_object_identifiers(self, message, shared_obj_identifiers={}):  # noqa: B006
        return {"item": message.item, **shared_obj_identifiers}

    @callback_order(1)
    def work(self, message):
        return slow_work

    @callback_order(2)
    def done(self, message):
        return slow_done
