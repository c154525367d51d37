"""What a worker does when it starts: the journal's schema, an ICAT login that says
loudly when ICAT refuses it, and a pool process's startup objects frozen (``heap``).

Connected to Celery's worker signals; ``celery -A pacer_celery worker`` imports this
module through the app's ``include``.
"""

from __future__ import annotations

import logging

from celery.app import trace
from celery.signals import worker_init, worker_process_init

from pacer_celery import heap
from pacer_celery.errors import ConfigurationError, LoginRefused, TransientError
from pacer_celery.icat import session
from pacer_celery.journal import journal

logger = logging.getLogger("pacer_celery.worker")

# Celery's own lines about a task name the message it belongs to: its id, type and
# identifiers are the task's kwargsrepr (see chains.py).
trace.LOG_RECEIVED = "Task %(name)s[%(id)s] received: %(kwargs)s"
trace.LOG_SUCCESS = "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s %(kwargs)s"


@worker_init.connect
def _prepare_worker(**_: object) -> None:
    """In the main process, before any pool process exists (they inherit all of it)."""
    # Brings the journal's schema up to date once, not in every pool process at once.
    journal()
    _log_in("worker start")
    # A check only: pool processes log in for themselves (a fork must not share a session).
    session.close()


@worker_process_init.connect
def _log_in_pool_process(**_: object) -> None:
    """A pool process logs in when it starts, not when its first message arrives."""
    _log_in("pool process start")
    heap.freeze_startup_objects()


def _log_in(when: str) -> None:
    try:
        session.client()
    except (LoginRefused, ConfigurationError) as exc:
        trouble = "ICAT LOGIN REFUSED" if isinstance(exc, LoginRefused) else "ICAT NOT CONFIGURED"
        logger.error(
            "%s at %s: %s. Tasks that need ICAT go back to their queue, not counted as "
            "attempts, until ICAT accepts the login.", trouble, when, exc,
        )
    except TransientError as exc:
        logger.warning("ICAT unreachable at %s (%s); steps retry as usual", when, exc)
