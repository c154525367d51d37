"""The Celery application: ``celery -A pacer_celery worker`` and ``... flower`` find it here."""

from celery import Celery

# Step tasks register themselves when their modules are imported.
app = Celery("pacer_celery", include=["pacer_celery.steps", "pacer_celery.tasks"])
app.config_from_object("celeryconfig")
