"""``dataset-ingestion`` (JSON or legacy XML) → queue ``pacer.datasets``."""

from pacer_celery.bridges.base import PacerBridge, callback_order, steps
from pacer_celery.models.datasets import DatasetMessage

datasets = steps("datasets")


def dataset_identifiers(message) -> dict[str, str]:
    return {"instrument": message.instrument, "dataset": message.dataset, "proposal": message.proposal}


def dataset_key(message) -> str:
    """One dataset: datafile-ingestion messages of it take the same lock."""
    return f"dataset:{message.proposal}/{message.visit or '*'}/{message.dataset}"


class DatasetsBridge(PacerBridge):
    dashboard_message_type = "dataset-ingestion"
    queue = "pacer.datasets"
    routing_key = "daq.datasets"
    model = DatasetMessage
    reject_msg_at_first_callback_error = True

    def get_message_object_identifiers(self, message, shared_obj_identifiers={}):  # noqa: B006
        return {**dataset_identifiers(message), **shared_obj_identifiers}

    def get_ordering_key(self, message):
        return dataset_key(message)

    @callback_order(1)
    def create_dataset(self, message):
        return datasets.create_dataset

    @callback_order(2)
    def register_datafiles(self, message):
        return datasets.register_datafiles

    @callback_order(3)
    def upsert_parameters(self, message):
        return datasets.upsert_parameters

    @callback_order(4)
    def finalize(self, message):
        return datasets.finalize
