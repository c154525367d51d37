"""The broker restarts while a step runs. The worker must live on and the message end
done, whenever the broker comes back:

- a worker that publishes its chain's next link (``PACER_INLINE_LINKS=false``) cannot,
  and puts its task back (Celery's Reject, requeue=True);
- a worker that runs the next links itself (the default) runs them, unable to tell
  Flower, and its task message, never acked, comes back to meet a message done.

The fault load found the worker dying here once (the runtime's own Reject subclass could
not be unpickled by the pool's main process); the step sleeps long enough for the broker
to be stopped under it."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults import slow
from tests.faults.conftest import send_slow
from tests.faults.stack import Stack, Tuning, running_stack
from tests.support.waiting import wait_for

#: What Celery's main process logs before it stops consuming for good.
FATAL = "Unrecoverable error"
STEP_SECONDS = 10


def _logged(stack: Stack, text: str) -> bool:
    return any(text in worker.log.read_text(errors="replace") for worker in stack.workers)


#: What the worker logs when the step ended with the broker away.
ENDED_WITHOUT_BROKER = {"false": "next link not published", "true": "not sent"}


@pytest.fixture(params=["false", "true"], ids=["next-link-published", "next-link-inline"])
def inline(request) -> str:
    return request.param


@pytest.fixture
def stack(inline: str) -> Iterator[Stack]:
    with tempfile.TemporaryDirectory(prefix="pacer-faults-") as directory, running_stack(
        Path(directory), Tuning(), PACER_BRIDGE_MODULES=slow.__name__, PACER_INLINE_LINKS=inline
    ) as stack:
        yield stack


@pytest.mark.timeout(600)
def test_a_worker_lives_on_when_the_broker_restarts_under_a_running_step(stack: Stack, inline: str):
    message_id = send_slow(stack, STEP_SECONDS)
    wait_for(lambda: stack.status(message_id) == "running", timeout=60, what="the slow step to start")

    stack.node.stop()
    wait_for(lambda: _logged(stack, ENDED_WITHOUT_BROKER[inline]), timeout=60,
             what="the step to end with the broker away")
    stack.node.start()
    wait_for(lambda: stack.status(message_id) == "done" or _logged(stack, FATAL),
             timeout=120, what="the message to be done, or a worker to fail")

    failed = [w.name for w in stack.workers if not w.running or FATAL in w.log.read_text(errors="replace")]
    assert not failed, f"{failed} failed:\n" + "\n".join(w.tail(40) for w in stack.workers)
    assert stack.status(message_id) == "done"
