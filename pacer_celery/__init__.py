"""PACER on Celery: keeps a facility's ICAT catalogue in step with its other systems."""

from pacer_celery.app import app

__all__ = ["app"]
