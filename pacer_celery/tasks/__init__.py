"""The ICAT business logic, one module per flow: plain functions taking a python-icat
client, made chain steps with ``pacer_celery.steps.step``."""
