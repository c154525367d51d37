"""The Celery application: ``celery -A pacer_celery worker`` and ``... flower`` find it here.

Its configuration (``celeryconfig``) is read when first needed, not at import: tests and
the demo set PACER's environment after importing the package.
"""

from celery import Celery

app = Celery("pacer_celery")
app.config_from_object("celeryconfig")
