"""Pydantic payload models, one per message type, and the XML conversion they share."""

from pacer_celery.models.base import PacerModel, Text, Timestamp

__all__ = ["PacerModel", "Text", "Timestamp"]
