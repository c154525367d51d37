"""A long-running process freezes its startup objects once, and still collects what it
allocates after."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = """
import gc, weakref
from pacer_celery import heap

class Node:
    pass

before = gc.get_freeze_count()
heap.freeze_startup_objects()
frozen = gc.get_freeze_count()
heap.freeze_startup_objects()
again = gc.get_freeze_count()

later = Node()
later.me = later  # a cycle: only the collector frees it
alive = weakref.ref(later)
del later
gc.collect()
print(before, frozen, again, alive() is None)
"""


def test_startup_objects_are_frozen_once_and_later_garbage_is_still_collected():
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    before, frozen, again, collected = int(out[0]), int(out[1]), int(out[2]), out[3]
    assert before == 0
    assert frozen > 1000  # the imports: pacer_celery's modules and what they pull in
    assert again == frozen
    assert collected == "True"
