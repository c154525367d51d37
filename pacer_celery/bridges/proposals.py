"""``proposal-update`` → queue ``pacer.proposals``."""

from pacer_celery.bridges.base import PacerBridge, callback_order
from pacer_celery.models.proposals import ProposalMessage
from pacer_celery.tasks import proposals


class ProposalsBridge(PacerBridge):
    dashboard_message_type = "proposal-update"
    queue = "pacer.proposals"
    model = ProposalMessage
    reject_msg_at_first_callback_error = True

    def get_message_object_identifiers(self, message, shared_obj_identifiers={}):  # noqa: B006
        return {"proposal": message.proposal, "visit": message.visit, **shared_obj_identifiers}

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
