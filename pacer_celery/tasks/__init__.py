"""The ICAT business logic, one module per flow: plain functions taking a python-icat
client, made chain steps with ``pacer_celery.worker.step``.

The worker imports this package (the app's ``include``): importing the flows registers
their steps as Celery tasks.
"""

from pacer_celery.tasks import datasets, proposals, users  # noqa: F401
