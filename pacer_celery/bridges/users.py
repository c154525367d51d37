"""``user-update`` → queue ``pacer.users``."""

from pacer_celery.bridges.base import PacerBridge, callback_order, steps
from pacer_celery.models.users import UserMessage

users = steps("users")


class UsersBridge(PacerBridge):
    dashboard_message_type = "user-update"
    queue = "pacer.users"
    routing_key = "uos.users"
    model = UserMessage
    reject_msg_at_first_callback_error = True

    def get_message_object_identifiers(self, message, shared_obj_identifiers={}):  # noqa: B006
        return {"user": message.username, **shared_obj_identifiers}

    def get_ordering_key(self, message):
        # Newest by the User Office System's updated_at (PacerBridge.get_version_time).
        return f"user:{message.username}"

    @callback_order(1)
    def update_user(self, message):
        return users.update_user
