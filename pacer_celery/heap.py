"""A long-running process's startup objects, kept out of the garbage collector's scans.

What a worker's pool process or ``pacer bridge`` imports and builds to start (Celery,
kombu, SQLAlchemy, suds' model of ICAT's WSDL: some 170 000 objects in a pool process)
stays until the process ends, yet every full collection walks all of it again: in a pool
process, a tenth of its CPU per dataset message. Frozen once the process is ready
(``gc.freeze``), it is left alone; what the process allocates later is collected as
usual. Not in processes that do other work too (tests, ``pacer demo``): what they built
before would never be collected again.
"""

from __future__ import annotations

import gc
import logging
import os

logger = logging.getLogger("pacer_celery")

_frozen_in: int | None = None


def freeze_startup_objects() -> None:
    """Collect the startup's garbage, then freeze what is left; once per process (a
    forked child freezes its own, after its own start)."""
    global _frozen_in
    if _frozen_in == os.getpid():
        return
    _frozen_in = os.getpid()
    # Garbage frozen now would never be freed.
    gc.collect()
    gc.freeze()
    logger.info("%d startup objects frozen (no longer scanned by the garbage collector)", gc.get_freeze_count())
