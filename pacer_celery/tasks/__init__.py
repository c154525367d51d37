"""The ICAT business logic, one module per flow: plain functions taking a python-icat
client, made chain steps with ``pacer_celery.steps.step``."""

# The worker imports this package (the app's ``include``): importing the flows here
# registers their steps as Celery tasks.
from pacer_celery.tasks import datasets, proposals, users  # noqa: E402, F401
# The ICAT session module logs each worker process in at its start (a worker signal).
from pacer_celery.icat import session  # noqa: E402, F401
