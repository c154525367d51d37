"""The broker restarts while a step runs: the step cannot publish its chain's next link
and puts its task back (Celery's Reject, requeue=True). The worker must live on and the
message end done, whenever the broker comes back.

The fault load found the worker dying here once (the runtime's own Reject subclass could
not be unpickled by the pool's main process); the step sleeps long enough for the broker
to be stopped under it."""

from __future__ import annotations

import pytest

from tests.faults.conftest import send_slow
from tests.faults.stack import Stack
from tests.support.waiting import wait_for

#: What Celery's main process logs before it stops consuming for good.
FATAL = "Unrecoverable error"
STEP_SECONDS = 10


def _logged(stack: Stack, text: str) -> bool:
    return any(text in worker.log.read_text(errors="replace") for worker in stack.workers)


@pytest.mark.timeout(600)
def test_a_worker_lives_on_when_the_broker_restarts_under_a_running_step(slow_stack: Stack):
    stack = slow_stack
    message_id = send_slow(stack, STEP_SECONDS)
    wait_for(lambda: stack.status(message_id) == "running", timeout=60, what="the slow step to start")

    stack.node.stop()
    wait_for(lambda: _logged(stack, "next link not published"), timeout=60,
             what="the step to end without its next link")
    stack.node.start()
    wait_for(lambda: stack.status(message_id) == "done" or _logged(stack, FATAL),
             timeout=120, what="the message to be done, or a worker to fail")

    failed = [w.name for w in stack.workers if not w.running or FATAL in w.log.read_text(errors="replace")]
    assert not failed, f"{failed} failed:\n" + "\n".join(w.tail(40) for w in stack.workers)
    assert stack.status(message_id) == "done"
