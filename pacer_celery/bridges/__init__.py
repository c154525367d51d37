"""Bridges: one thin consumer per message type, and the registry of message types.

A message type is known to every PACER process (bridges, workers, ``pacer publish``,
replay, the journal's commands, the dashboard) once its bridge is registered: PACER's own
below, a facility's by ``register(...)`` in a module named in ``PACER_BRIDGE_MODULES``.
"""

from __future__ import annotations

import importlib

from pacer_celery.bridges.base import PacerBridge, callback, callback_order, steps
from pacer_celery.errors import ConfigurationError
from pacer_celery.settings import get_settings

#: The registered message types, by dashboard_message_type.
REGISTRY: dict[str, type[PacerBridge]] = {}


def register(bridge: type[PacerBridge]) -> type[PacerBridge]:
    """Make ``bridge``'s message type known to PACER (usable as a class decorator)."""
    REGISTRY[bridge.dashboard_message_type] = bridge
    return bridge


def load() -> dict[str, type[PacerBridge]]:
    """The registry, with the facility's modules (``PACER_BRIDGE_MODULES``) imported."""
    for module in get_settings().bridge_module_names():
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigurationError(f"PACER_BRIDGE_MODULES: cannot import {module!r}: {exc}") from None
    return REGISTRY


def bridge_for(message_type: str) -> type[PacerBridge]:
    """The bridge of a registered message type; ConfigurationError naming the known ones."""
    registry = load()
    if message_type not in registry:
        raise ConfigurationError(
            f"unknown message type {message_type!r}; registered: {', '.join(sorted(registry)) or 'none'}"
        )
    return registry[message_type]


__all__ = ["REGISTRY", "PacerBridge", "bridge_for", "callback", "callback_order", "load", "register", "steps"]


# The message types of messages.md.
from pacer_celery.bridges import datafiles, datasets, proposals, users  # noqa: E402

for _bridge in (users.UsersBridge, proposals.ProposalsBridge, datasets.DatasetsBridge, datafiles.DatafilesBridge):
    register(_bridge)
