"""Bridges: one thin consumer per message type.

Adding a message type is one model, one bridge class, one tasks module and one line in
``REGISTRY`` below.
"""

from pacer_celery.bridges.base import PacerBridge, callback, callback_order

#: The bridges ``pacer bridge`` runs, by dashboard_message_type.
REGISTRY: dict[str, type[PacerBridge]] = {}


def register(bridge: type[PacerBridge]) -> type[PacerBridge]:
    REGISTRY[bridge.dashboard_message_type] = bridge
    return bridge


__all__ = ["REGISTRY", "PacerBridge", "callback", "callback_order", "register"]


# The message types of messages.md (imported here, after REGISTRY exists, as they register).
from pacer_celery.bridges import datafiles, datasets, proposals, users  # noqa: E402

for _bridge in (users.UsersBridge, proposals.ProposalsBridge, datasets.DatasetsBridge, datafiles.DatafilesBridge):
    register(_bridge)
