"""The fault suite's fixtures: a stack whose bridges and workers also know the slow
test-only message type (tests/faults/slow.py), for tests that break something while a
step runs or waits."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults import slow
from tests.faults.harness import producer_settings
from tests.faults.stack import Stack, Tuning, running_stack
from tests.support.load import Outgoing, publish


@pytest.fixture
def slow_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The stack (Tuning by ``indirect`` parametrization, else the default)."""
    tuning = getattr(request, "param", None) or Tuning()
    with tempfile.TemporaryDirectory(prefix="pacer-faults-") as directory, running_stack(
        Path(directory), tuning, PACER_BRIDGE_MODULES=slow.__name__
    ) as stack:
        yield stack


def send_slow(stack: Stack, seconds: float) -> str:
    """Publish a slow message whose first step takes ``seconds``; its id."""
    message_id = str(uuid.uuid4())
    payload = {"item": message_id[:8], "seconds": seconds}
    publish([Outgoing(slow.MESSAGE_TYPE, payload, message_id)], producer_settings(stack), rate=1)
    return message_id
