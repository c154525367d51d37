"""``datafile-ingestion`` → queue ``pacer.datafiles``: files streamed into an existing dataset."""

from pacer_celery.bridges.base import PacerBridge, callback_order
from pacer_celery.bridges.datasets import DatasetsBridge
from pacer_celery.models.datasets import DatafileMessage
from pacer_celery.tasks import datasets


class DatafilesBridge(PacerBridge):
    dashboard_message_type = "datafile-ingestion"
    queue = "pacer.datafiles"
    model = DatafileMessage
    reject_msg_at_first_callback_error = True

    # The same objects as a whole dataset message: the dashboard finds both together.
    get_message_object_identifiers = DatasetsBridge.get_message_object_identifiers

    @callback_order(1)
    def add_datafiles(self, message):
        return datasets.add_datafiles

    @callback_order(2)
    def finalize(self, message):
        return datasets.finalize_datafiles
