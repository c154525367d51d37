"""Pydantic payload models, one per message type, and the XML conversion they share."""

from pacer_celery.models.base import PacerModel
from pacer_celery.models.fields import Text, Timestamp

__all__ = ["PacerModel", "Text", "Timestamp"]
