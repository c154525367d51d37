"""``datafile-ingestion`` → queue ``pacer.datafiles``: files streamed into an existing dataset."""

from pacer_celery.bridges.base import PacerBridge, callback_order, steps
from pacer_celery.bridges.datasets import dataset_identifiers, dataset_key
from pacer_celery.models.datasets import DatafileMessage

datafiles = steps("datafiles")


class DatafilesBridge(PacerBridge):
    dashboard_message_type = "datafile-ingestion"
    queue = "pacer.datafiles"
    routing_key = "daq.datafiles"
    model = DatafileMessage
    reject_msg_at_first_callback_error = True
    # Files are only ever added: a later dataset-ingestion never undoes them, and these
    # messages only wait their turn on the dataset's lock.
    ordering = "append"

    def get_message_object_identifiers(self, message, shared_obj_identifiers={}):  # noqa: B006
        # The same objects as a whole dataset message: the dashboard finds both together.
        return {**dataset_identifiers(message), **shared_obj_identifiers}

    def get_ordering_key(self, message):
        return dataset_key(message)

    @callback_order(1)
    def add_datafiles(self, message):
        return datafiles.add_datafiles

    @callback_order(2)
    def finalize(self, message):
        return datafiles.finalize
