"""``user-update`` → queue ``pacer.users``."""

from pacer_celery.bridges.base import PacerBridge, callback_order
from pacer_celery.models.users import UserMessage
from pacer_celery.tasks import users


class UsersBridge(PacerBridge):
    dashboard_message_type = "user-update"
    queue = "pacer.users"
    model = UserMessage
    reject_msg_at_first_callback_error = True

    def get_message_object_identifiers(self, message, shared_obj_identifiers={}):  # noqa: B006
        return {"user": message.username, **shared_obj_identifiers}

    @callback_order(1)
    def update_user(self, message):
        return users.update_user
