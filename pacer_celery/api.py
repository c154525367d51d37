"""Everything a facility's own message type needs, in one import::

    from pacer_celery.api import PacerBridge, PacerModel, Text, callback_order, register, step

A module that defines a model, its steps and its bridge, registered with ``register``
and named in ``PACER_BRIDGE_MODULES``, is known to every PACER process: bridges, workers,
``pacer publish``, replay, the journal and the dashboard. See the README's "Adding a new
consumer".
"""

from pacer_celery.bridges import PacerBridge, callback, callback_order, register, steps
from pacer_celery.errors import PermanentError, TransientError
from pacer_celery.icat.query import search, search_one
from pacer_celery.models import PacerModel, Text, Timestamp
from pacer_celery.worker import step

__all__ = [
    "PacerBridge",
    "PacerModel",
    "PermanentError",
    "Text",
    "Timestamp",
    "TransientError",
    "callback",
    "callback_order",
    "register",
    "search",
    "search_one",
    "step",
    "steps",
]
