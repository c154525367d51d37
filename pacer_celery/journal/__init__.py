"""The message journal: the durable record of every message's life (see architecture.md).

``journal()`` is the process's Journal on ``PACER_JOURNAL_URL``; ``store`` writes,
``search`` reads for people, ``ordering`` keeps the newest fact winning, ``migrate``
evolves the schema.
"""

from __future__ import annotations

import os

from pacer_celery.journal.store import FINAL, Arrival, Journal, Record, StepAttempt, StepStart
from pacer_celery.settings import get_settings

_journals: dict[tuple[str, int], Journal] = {}


def journal() -> Journal:
    """The process's journal (its schema brought up to date on first use); a forked
    worker process gets its own, with connections of its own."""
    key = (get_settings().journal(), os.getpid())
    if key not in _journals:
        _journals[key] = Journal(key[0])
    return _journals[key]


__all__ = ["FINAL", "Arrival", "Journal", "Record", "StepAttempt", "StepStart", "journal"]
