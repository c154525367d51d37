"""``proposal-update`` → queue ``pacer.proposals``."""

from pacer_celery.bridges.base import PacerBridge, callback_order, steps
from pacer_celery.models.proposals import ProposalMessage

proposals = steps("proposals")


class ProposalsBridge(PacerBridge):
    dashboard_message_type = "proposal-update"
    queue = "pacer.proposals"
    routing_key = "uos.proposals"
    model = ProposalMessage
    reject_msg_at_first_callback_error = True

    def get_message_object_identifiers(self, message, shared_obj_identifiers={}):  # noqa: B006
        return {"proposal": message.proposal, "visit": message.visit, **shared_obj_identifiers}

    def get_ordering_key(self, message):
        # One visit's team and access: the last proposal-update received wins (or the
        # newest updated_at, when the User Office System sends one).
        return f"visit:{message.proposal}/{message.visit}"

    @callback_order(1)
    def upsert_investigation(self, message):
        return proposals.upsert_investigation

    @callback_order(2)
    def sync_instruments(self, message):
        return proposals.sync_instruments

    @callback_order(3)
    def sync_team(self, message):
        return proposals.sync_team

    @callback_order(4)
    def sync_access(self, message):
        return proposals.sync_access
