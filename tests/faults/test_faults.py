"""The fault suite, CI's short version: a few hundred messages of all four types while
every kind of fault happens at least once (tests/faults/schedule.py: ``ci``), and every
message must end in ICAT exactly once or in ``pacer.dlq``. ``bench/faults.py`` is the
long version."""

from __future__ import annotations

import pytest

from tests.faults import schedule
from tests.faults.harness import fault_run

MESSAGES = 300
RATE = 5.0


@pytest.mark.timeout(900)  # about 3 minutes on an idle machine; a shared one is slower
def test_every_message_ends_in_icat_or_the_dead_letters_whatever_breaks():
    result = fault_run(MESSAGES, schedule.ci(), rate=RATE, settle_timeout=300)
    print(result.summary())
    assert {fault.kind for fault in schedule.ci()} == set(schedule.KINDS)
    assert len(result.injected) == len(schedule.ci())
    figures = {**result.figures, "crashes": len(result.crashes)}
    assert figures == {"lost": 0, "duplicated": 0, "wrongly_dead_lettered": 0, "wrong": 0, "unsettled": 0,
                       "crashes": 0}, result.summary() + "\n" + result.details() + "\n".join(
        c.describe() for c in result.crashes)
