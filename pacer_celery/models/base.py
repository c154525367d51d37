"""What every payload model shares: the common field rules of messages.md."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class PacerModel(BaseModel):
    """Base of the payload models.

    Unknown fields are accepted (producers evolve before consumers) but kept apart, so
    they can be recorded and never reach ICAT. Field types (``models.fields``) carry
    ICAT's limits, so that what validates can be stored.
    """

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True, frozen=True)

    #: Root element of the legacy XML form, for models that accept XML.
    xml_root: ClassVar[str | None] = None

    @property
    def ignored_fields(self) -> list[str]:
        return sorted(self.model_extra or {})

    @classmethod
    def from_xml(cls, document: dict[str, Any]) -> dict[str, Any]:
        """Turn the xmltodict form of the legacy XML into this model's JSON shape."""
        raise NotImplementedError(f"{cls.__name__} has no XML form")

    @classmethod
    def xml_lists(cls) -> tuple[str, ...]:
        """Elements that are always lists, even when a document has only one."""
        return ()
