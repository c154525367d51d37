"""A message whose task only waits in ``pacer.tasks`` (no worker free, or none running
for a while) has not stalled: nothing of it vanished, and it must end done once workers
take it, not in the dead letters.

The soak found the sweeper dead-lettering such messages; here the workers stop for longer
than an impatient sweeper's whole patience, and the message must still end done."""

from __future__ import annotations

import time

import pytest

from pacer_celery.journal import FINAL
from tests.faults.conftest import send_slow
from tests.faults.harness import timelines
from tests.faults.stack import Stack, Tuning
from tests.support.waiting import wait_for

#: An impatient sweeper: stalled after 3 s, given up after one re-dispatch.
IMPATIENT = Tuning(stalled_after_seconds=3, sweep_interval_seconds=1, max_redispatch=1)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("slow_stack", [IMPATIENT], indirect=True)
def test_a_message_waiting_for_a_worker_ends_done(slow_stack: Stack):
    stack = slow_stack
    for worker in stack.workers:
        worker.stop()
    message_id = send_slow(stack, 0)
    wait_for(lambda: stack.status(message_id) == "dispatched", timeout=60, what="the message to be dispatched")
    # Longer than the sweeper's whole patience: every re-dispatch it allows, and one more.
    time.sleep(IMPATIENT.stalled_after_seconds * (IMPATIENT.max_redispatch + 2) + 3 * IMPATIENT.sweep_interval_seconds)
    for worker in stack.workers:
        worker.start()
    wait_for(lambda: stack.status(message_id) in FINAL, timeout=120, what="the message to meet its fate")
    assert stack.status(message_id) == "done", "\n".join(timelines(stack, [message_id]))
